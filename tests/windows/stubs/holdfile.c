/* Holds a file open from a second Windows process, as a virus scanner, indexer or sync client does
   (tests/windows).

   Build: x86_64-w64-mingw32-gcc -municode -O2 -o holdfile.exe holdfile.c
   Usage: holdfile.exe SHARE SECONDS PATH [APPEAR_SECONDS]
     SHARE    what other programs may still do with the file while it is held: "none", or a "+"-joined
              set of "read", "write", "delete" (e.g. "read": others may read it, not change or delete it)
     SECONDS  how long to hold it (decimals allowed)
     APPEAR_SECONDS  wait up to this long for PATH to appear first (default: it must exist now)
   Prints "held" on stdout once the handle is open and "released" when it is closed; exit code 0,
   or 2 when the file could not be opened (the Windows error code is printed).
*/
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv) {
    if (argc < 4) { fputs("usage: holdfile.exe SHARE SECONDS PATH [APPEAR_SECONDS]\n", stderr); return 2; }
    DWORD share = 0;
    if (wcscmp(argv[1], L"none") != 0) {
        if (wcsstr(argv[1], L"read")) share |= FILE_SHARE_READ;
        if (wcsstr(argv[1], L"write")) share |= FILE_SHARE_WRITE;
        if (wcsstr(argv[1], L"delete")) share |= FILE_SHARE_DELETE;
    }
    double seconds = wcstod(argv[2], NULL);
    double appear = argc > 4 ? wcstod(argv[4], NULL) : 0.0;
    HANDLE h = INVALID_HANDLE_VALUE;
    DWORD start = GetTickCount();
    for (;;) {
        h = CreateFileW(argv[3], GENERIC_READ, share, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
        if (h != INVALID_HANDLE_VALUE) break;
        DWORD err = GetLastError();
        if ((GetTickCount() - start) / 1000.0 >= appear) {
            printf("cannot open (error %lu)\n", err);
            fflush(stdout);
            return 2;
        }
        Sleep(5);
    }
    printf("held\n");
    fflush(stdout);
    Sleep((DWORD)(seconds * 1000));
    CloseHandle(h);
    printf("released\n");
    fflush(stdout);
    return 0;
}
