/* A stand-in for py.exe, python.exe or nvidia-smi.exe in the Windows lane (tests/windows).

   Build: x86_64-w64-mingw32-gcc -municode -O2 -o stub.exe stub.c -lshell32
   The same program is copied under each name it plays. On every start it
   1. appends one JSON line to the file named by %CHUNKY_STUB_LOG% (if set):
      {"exe": own path, "cwd": working folder, "cmdline": the exact command line, "argv": [...]}
      (argv as CommandLineToArgvW splits it, the way a C or Python program sees its arguments);
   2. reads the rules beside itself (<own path without .exe>.rules, UTF-8), one per line:
        PATTERN <TAB> EXIT [<TAB> ACTION]...
      PATTERN is "*" or text that the arguments (the command line after the program name) must
      contain; "a&&b" needs both "a" and "b". The first matching rule wins. EXIT is decimal or 0x-hex
      (0xC0000005 is a native crash). ACTIONS, in order:
        out:TEXT      print TEXT and a newline on stdout (\n and \t are escapes)
        err:TEXT      the same on stderr
        venv:FOLDER   create a virtual environment at the last argument: copy every file of FOLDER into
                      <venv>\Scripts, write <venv>\pyvenv.cfg, create <venv>\Lib\site-packages
        drop:N        leave out the first N arguments in what run: passes on (py -3.13 ... -> python ...)
        run:EXE       run EXE with this call's arguments and exit with its exit code
      No rule file or no matching rule: a message on stderr and exit code 97.
*/
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <shellapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static char *to_utf8(const wchar_t *w) {
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = (char *)malloc(n > 0 ? n : 1);
    if (n > 0) WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL); else s[0] = 0;
    return s;
}

static wchar_t *from_utf8(const char *s) {
    int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    wchar_t *w = (wchar_t *)malloc(sizeof(wchar_t) * (n > 0 ? n : 1));
    if (n > 0) MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n); else w[0] = 0;
    return w;
}

/* Appends s to buf as a JSON string (with quotes). buf must have room: 6 * strlen(s) + 3. */
static char *json_str(char *out, const char *s) {
    *out++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { *out++ = '\\'; *out++ = (char)c; }
        else if (c < 0x20) out += sprintf(out, "\\u%04x", c);
        else *out++ = (char)c;
    }
    *out++ = '"';
    *out = 0;
    return out;
}

static void write_log(const wchar_t *exe, const wchar_t *cmdline) {
    wchar_t logpath[4096];
    DWORD n = GetEnvironmentVariableW(L"CHUNKY_STUB_LOG", logpath, 4096);
    if (n == 0 || n >= 4096) return;
    wchar_t cwd[4096];
    GetCurrentDirectoryW(4096, cwd);
    int argc = 0;
    wchar_t **argv = CommandLineToArgvW(cmdline, &argc);
    char *e = to_utf8(exe), *c = to_utf8(cwd), *l = to_utf8(cmdline);
    size_t room = 64 + 6 * (strlen(e) + strlen(c) + strlen(l));
    char **args = (char **)calloc(argc + 1, sizeof(char *));
    for (int i = 0; i < argc; i++) { args[i] = to_utf8(argv[i]); room += 6 * strlen(args[i]) + 4; }
    char *buf = (char *)malloc(room), *p = buf;
    p += sprintf(p, "{\"exe\": "); p = json_str(p, e);
    p += sprintf(p, ", \"cwd\": "); p = json_str(p, c);
    p += sprintf(p, ", \"cmdline\": "); p = json_str(p, l);
    p += sprintf(p, ", \"argv\": [");
    for (int i = 0; i < argc; i++) { if (i) p += sprintf(p, ", "); p = json_str(p, args[i]); }
    p += sprintf(p, "]}\n");
    HANDLE h = INVALID_HANDLE_VALUE;
    for (int tries = 0; tries < 200 && h == INVALID_HANDLE_VALUE; tries++) {
        h = CreateFileW(logpath, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
                        FILE_ATTRIBUTE_NORMAL, NULL);
        if (h == INVALID_HANDLE_VALUE) Sleep(10);
    }
    if (h != INVALID_HANDLE_VALUE) {
        DWORD written;
        WriteFile(h, buf, (DWORD)(p - buf), &written, NULL);
        CloseHandle(h);
    }
}

/* The command line after the program name (as CommandLineToArgvW reads argv[0]). */
static const wchar_t *args_of(const wchar_t *cmdline) {
    const wchar_t *p = cmdline;
    if (*p == L'"') { p++; while (*p && *p != L'"') p++; if (*p) p++; }
    else { while (*p && *p != L' ' && *p != L'\t') p++; }
    while (*p == L' ' || *p == L'\t') p++;
    return p;
}

static int matches(const char *pattern, const char *args) {
    if (strcmp(pattern, "*") == 0) return 1;
    char *copy = _strdup(pattern), *part = copy, *next;
    int ok = 1;
    while (part) {
        next = strstr(part, "&&");
        if (next) { *next = 0; next += 2; }
        if (*part && !strstr(args, part)) { ok = 0; break; }
        part = next;
    }
    free(copy);
    return ok;
}

static void print_text(FILE *f, const char *text) {
    for (const char *p = text; *p; p++) {
        if (p[0] == '\\' && p[1] == 'n') { fputc('\n', f); p++; }
        else if (p[0] == '\\' && p[1] == 't') { fputc('\t', f); p++; }
        else fputc(*p, f);
    }
    fputc('\n', f);
    fflush(f);
}

static int make_venv(const wchar_t *src, const wchar_t *cmdline) {
    int argc = 0;
    wchar_t **argv = CommandLineToArgvW(cmdline, &argc);
    if (argc < 2) { fputs("stub venv: no target folder\n", stderr); return 1; }
    const wchar_t *target = argv[argc - 1];
    wchar_t full[4096], path[4096], from[4096];
    GetFullPathNameW(target, 4096, full, NULL);
    size_t len = wcslen(full);
    if (len && (full[len - 1] == L'\\' || full[len - 1] == L'/')) full[len - 1] = 0;
    CreateDirectoryW(full, NULL);
    swprintf(path, 4096, L"%ls\\Scripts", full); CreateDirectoryW(path, NULL);
    swprintf(path, 4096, L"%ls\\Lib", full); CreateDirectoryW(path, NULL);
    swprintf(path, 4096, L"%ls\\Lib\\site-packages", full); CreateDirectoryW(path, NULL);
    WIN32_FIND_DATAW fd;
    swprintf(path, 4096, L"%ls\\*", src);
    HANDLE h = FindFirstFileW(path, &fd);
    if (h == INVALID_HANDLE_VALUE) { fputs("stub venv: template folder not found\n", stderr); return 1; }
    do {
        if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) continue;
        swprintf(from, 4096, L"%ls\\%ls", src, fd.cFileName);
        swprintf(path, 4096, L"%ls\\Scripts\\%ls", full, fd.cFileName);
        if (!CopyFileW(from, path, FALSE)) { fputs("stub venv: copy failed\n", stderr); FindClose(h); return 1; }
    } while (FindNextFileW(h, &fd));
    FindClose(h);
    swprintf(path, 4096, L"%ls\\pyvenv.cfg", full);
    FILE *f = _wfopen(path, L"wb");
    if (f) { char *s = to_utf8(src); fprintf(f, "home = %s\r\ninclude-system-site-packages = false\r\n", s); fclose(f); }
    return 0;
}

static int run_other(const char *exe_utf8, const wchar_t *args) {
    wchar_t *exe = from_utf8(exe_utf8);
    size_t n = wcslen(exe) + wcslen(args) + 8;
    wchar_t *cmd = (wchar_t *)malloc(sizeof(wchar_t) * n);
    swprintf(cmd, n, L"\"%ls\" %ls", exe, args);
    STARTUPINFOW si; PROCESS_INFORMATION pi;
    ZeroMemory(&si, sizeof si); si.cb = sizeof si;
    if (!CreateProcessW(exe, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
        fprintf(stderr, "stub run: cannot start %s (error %lu)\n", exe_utf8, GetLastError());
        return 98;
    }
    WaitForSingleObject(pi.hProcess, INFINITE);
    DWORD code = 0;
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hThread); CloseHandle(pi.hProcess);
    return (int)code;
}

int wmain(void) {
    const wchar_t *cmdline = GetCommandLineW();
    wchar_t exe[4096];
    GetModuleFileNameW(NULL, exe, 4096);
    write_log(exe, cmdline);

    wchar_t rules[4096];
    wcscpy(rules, exe);
    wchar_t *dot = wcsrchr(rules, L'.');
    if (dot && !wcschr(dot, L'\\')) *dot = 0;
    wcscat(rules, L".rules");
    FILE *f = _wfopen(rules, L"rb");
    char *args = to_utf8(args_of(cmdline));
    if (!f) { fprintf(stderr, "stub: no rules file beside %s\n", to_utf8(exe)); return 97; }
    static char line[65536];
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len || line[0] == '#') continue;
        char *fields[32]; int nf = 0;
        char *p = line;
        fields[nf++] = p;
        while ((p = strchr(p, '\t')) && nf < 32) { *p++ = 0; fields[nf++] = p; }
        if (nf < 2 || !matches(fields[0], args)) continue;
        fclose(f);
        int code = (int)strtoul(fields[1], NULL, 0);
        const wchar_t *rest = args_of(cmdline);
        for (int i = 2; i < nf; i++) {
            char *a = fields[i];
            if (strncmp(a, "out:", 4) == 0) print_text(stdout, a + 4);
            else if (strncmp(a, "err:", 4) == 0) print_text(stderr, a + 4);
            else if (strncmp(a, "venv:", 5) == 0) { if (make_venv(from_utf8(a + 5), cmdline)) return 1; }
            else if (strncmp(a, "drop:", 5) == 0) { for (int k = atoi(a + 5); k > 0; k--) rest = args_of(rest); }
            else if (strncmp(a, "run:", 4) == 0) return run_other(a + 4, rest);
            else { fprintf(stderr, "stub: unknown action %s\n", a); return 96; }
        }
        return code;
    }
    fclose(f);
    fprintf(stderr, "stub: no rule in %s matches: %s\n", to_utf8(rules), args);
    return 97;
}
