/* Starts one program with an exact command line, the way Explorer or a shortcut would (tests/windows).

   Build: x86_64-w64-mingw32-gcc -municode -O2 -o launch.exe launch.c
   Usage: launch.exe SPEC
   SPEC is a UTF-8 file of lines:
     cwd=FOLDER           the working folder of the program (default: launch.exe's own)
     env=NAME=VALUE       set a variable first (env=NAME= removes it); repeatable
     cmd=COMMAND LINE     exactly what the program gets from GetCommandLineW (the first word names it)
     result=FILE          where the exit code is written, as 0x%08X (Wine's own exit status keeps 8 bits)
   The program inherits this process's standard input, output and error.
*/
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static wchar_t *from_utf8(const char *s) {
    int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    wchar_t *w = (wchar_t *)malloc(sizeof(wchar_t) * (n > 0 ? n : 1));
    if (n > 0) MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n); else w[0] = 0;
    return w;
}

int wmain(int argc, wchar_t **argv) {
    if (argc != 2) { fputs("usage: launch.exe SPEC\n", stderr); return 2; }
    FILE *f = _wfopen(argv[1], L"rb");
    if (!f) { fputs("launch: cannot read the spec file\n", stderr); return 2; }
    static char line[65536];
    wchar_t *cwd = NULL, *cmd = NULL, *result = NULL;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (strncmp(line, "cwd=", 4) == 0) cwd = from_utf8(line + 4);
        else if (strncmp(line, "cmd=", 4) == 0) cmd = from_utf8(line + 4);
        else if (strncmp(line, "result=", 7) == 0) result = from_utf8(line + 7);
        else if (strncmp(line, "env=", 4) == 0) {
            char *eq = strchr(line + 4, '=');
            if (!eq) continue;
            *eq = 0;
            wchar_t *name = from_utf8(line + 4), *value = from_utf8(eq + 1);
            SetEnvironmentVariableW(name, *value ? value : NULL);
        }
    }
    fclose(f);
    if (!cmd) { fputs("launch: no cmd= line\n", stderr); return 2; }
    STARTUPINFOW si; PROCESS_INFORMATION pi;
    ZeroMemory(&si, sizeof si); si.cb = sizeof si;
    if (!CreateProcessW(NULL, cmd, NULL, NULL, TRUE, 0, NULL, cwd, &si, &pi)) {
        fprintf(stderr, "launch: CreateProcess failed (error %lu)\n", GetLastError());
        return 3;
    }
    WaitForSingleObject(pi.hProcess, INFINITE);
    DWORD code = 0;
    GetExitCodeProcess(pi.hProcess, &code);
    if (result) {
        FILE *r = _wfopen(result, L"wb");
        if (r) { fprintf(r, "0x%08lX\n", (unsigned long)code); fclose(r); }
    }
    return (int)(code & 0xFF);
}
