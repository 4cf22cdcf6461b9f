@echo off
rem Chunky for Windows. Double-click to start, or from a terminal:
rem   run.bat [app.py options]     set up on first use, then start the page
rem   run.bat test [pytest args]   set up with the test tools, run ruff and the whole test suite
rem Works from folders whose path has spaces, non-ASCII letters, & or parentheses, and from network
rem shares: every path is quoted, no path is expanded inside a parenthesised block, and pushd (not
rem cd /d) enters the folder. Arguments reach app.py and pytest exactly as typed (%*, never %1..%9,
rem which split at = , ; and stop after nine). Every failure says what failed and waits for a key,
rem so a double-clicked window does not close on the message. No parentheses in a line after "if":
rem Wine's cmd.exe, which the tests use, rejects them.
setlocal EnableExtensions DisableDelayedExpansion
chcp 65001 >nul 2>&1
set "PYTHONUTF8=1"
set "PYTHONIOENCODING=utf-8"
set "HERE=%~dp0"
if "%HERE:~-1%"=="\" set "HERE=%HERE:~0,-1%"
set "VENV=%HERE%\.venv"
set "VPY=%VENV%\Scripts\python.exe"
set "STEP=opening the Chunky folder"
pushd "%~dp0"
if not "%ERRORLEVEL%"=="0" goto :fail

if not exist "%VPY%" goto :make_venv
rem A venv whose creation stopped part-way (ensurepip failed, the window was closed) has python.exe
rem but no pip: notice it and build it again instead of failing on it at every start.
"%VPY%" -c "import pip" >nul 2>&1
if "%ERRORLEVEL%"=="0" goto :have_venv
echo The virtual environment in .venv is incomplete (an earlier set-up stopped part-way).
echo Building it again...

:make_venv
set "STEP=removing the incomplete .venv folder (close other Chunky windows and try again)"
if exist "%VENV%\" rmdir /s /q "%VENV%"
if exist "%VENV%\" goto :fail
call :find_python
if not defined PYLAUNCH goto :no_python
echo Creating the virtual environment in .venv with %PYLAUNCH% (first start only)...
set "STEP=creating the virtual environment (%PYLAUNCH% -m venv .venv)"
%PYLAUNCH% -m venv "%VENV%"
if not "%ERRORLEVEL%"=="0" goto :fail
set "STEP=checking the new virtual environment (it has no pip)"
"%VPY%" -c "import pip"
if not "%ERRORLEVEL%"=="0" goto :fail
:have_venv

if /i "%~1"=="test" goto :test

set "STEP=setting up the environment (python -m chunky.setup_env)"
"%VPY%" -m chunky.setup_env
if not "%ERRORLEVEL%"=="0" goto :fail
set "STEP=Chunky (app.py)"
"%VPY%" "%HERE%\app.py" %*
if not "%ERRORLEVEL%"=="0" goto :fail
goto :done

:test
set "STEP=setting up the test tools (python -m chunky.setup_env --dev)"
"%VPY%" -m chunky.setup_env --dev
if not "%ERRORLEVEL%"=="0" goto :fail
echo == ruff check
set "STEP=ruff check (the problems are listed above)"
"%VPY%" -m ruff check .
if not "%ERRORLEVEL%"=="0" goto :fail
echo == pytest
rem pytest gets every argument after "test" as typed: %* without its first word.
set "STEP=pytest (the failures are listed above)"
"%VPY%" -c "import sys, pytest; sys.exit(pytest.main(sys.argv[2:]))" %*
if not "%ERRORLEVEL%"=="0" goto :fail
goto :done

:find_python
rem The py launcher finds every python.org install, also one not on PATH (the installer's default).
rem Prefer the versions Chunky is tested with, then any newer Python 3, then python on PATH; each must
rem be 3.11 or newer and 64-bit (PyTorch has no 32-bit Windows builds).
set "PYLAUNCH="
set "PYCHECK=import sys; sys.exit(0 if sys.version_info >= (3, 11) and sys.maxsize > 2**32 else 1)"
for %%V in (3.12 3.11 3.13 3.14 3) do (
    if not defined PYLAUNCH py -%%V -c "%PYCHECK%" >nul 2>&1 && set "PYLAUNCH=py -%%V"
)
if defined PYLAUNCH exit /b 0
python -c "%PYCHECK%" >nul 2>&1 && set "PYLAUNCH=python"
exit /b 0

:no_python
echo.
echo Chunky needs a 64-bit Python 3.11 or newer, and found none on this PC.
echo Pythons found:
py -0p 2>nul
python -V 2>nul
echo Install Python 3.12 (64-bit) from https://www.python.org/downloads/windows/ - the py launcher
echo it installs is enough - then double-click run.bat again.
pause
popd
exit /b 1

:fail
set "RC=%ERRORLEVEL%"
echo.
echo Chunky stopped with an error; the messages above say what went wrong.
echo The step that failed: %STEP%, exit code %RC%.
if "%RC%"=="-1073741819" echo Exit code 0xC0000005 is an access violation: a crash inside Python or a native library such as PyTorch or the GPU driver.
if "%RC%"=="-1073740791" echo Exit code 0xC0000409 is a stack buffer overrun or fail-fast: a native library such as PyTorch or the GPU driver aborted.
if "%RC%"=="-1073741515" echo Exit code 0xC0000135 means a DLL is missing: install https://aka.ms/vs/17/release/vc_redist.x64.exe
if "%RC%"=="-1073741510" echo Exit code 0xC000013A means it was stopped with Ctrl+C or its window was closed.
if "%RC%"=="9009" echo Exit code 9009 means a program was not found.
echo For help with common Windows problems, see docs\windows.md in this folder.
pause
popd
if "%RC%"=="0" exit /b 1
exit /b %RC%

:done
popd
exit /b 0
