@echo off
rem Chunky for Windows. Double-click to start, or from a terminal:
rem   run.bat [app.py options]    set up on first use, then start the page
rem   run.bat test                set up with the test tools, run ruff and the whole test suite
rem Works from folders whose path has spaces or non-ASCII letters: every path is quoted and no
rem path is expanded inside a parenthesised block.
setlocal EnableExtensions DisableDelayedExpansion
chcp 65001 >nul
set "PYTHONUTF8=1"
set "PYTHONIOENCODING=utf-8"
set "HERE=%~dp0"
if "%HERE:~-1%"=="\" set "HERE=%HERE:~0,-1%"
cd /d "%HERE%" || goto :fail
set "VENV=%HERE%\.venv"
set "VPY=%VENV%\Scripts\python.exe"

if exist "%VPY%" goto :have_venv
call :find_python
if not defined PYLAUNCH goto :no_python
echo Creating the virtual environment in .venv (first start only)...
%PYLAUNCH% -m venv "%VENV%"
if errorlevel 1 goto :fail
:have_venv

if /i "%~1"=="test" goto :test

"%VPY%" -m chunky.setup_env
if errorlevel 1 goto :fail
"%VPY%" "%HERE%\app.py" %*
if errorlevel 1 goto :fail
exit /b 0

:test
"%VPY%" -m chunky.setup_env --dev
if errorlevel 1 goto :fail
echo == ruff check
"%VPY%" -m ruff check .
if errorlevel 1 goto :fail
echo == pytest
"%VPY%" -m pytest %2 %3 %4 %5 %6 %7 %8 %9
if errorlevel 1 goto :fail
exit /b 0

:find_python
set "PYLAUNCH="
for %%V in (3.12 3.11 3.13) do (
    if not defined PYLAUNCH py -%%V -c "import sys" >nul 2>&1 && set "PYLAUNCH=py -%%V"
)
if defined PYLAUNCH exit /b 0
python -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)" >nul 2>&1 && set "PYLAUNCH=python"
exit /b 0

:no_python
echo.
echo Chunky needs Python 3.11 or newer. Install it from https://www.python.org/downloads/windows/
echo (tick "Add python.exe to PATH"), then double-click run.bat again.
pause
exit /b 1

:fail
echo.
echo Chunky stopped with an error; the messages above say what went wrong.
echo For help with common Windows problems, see docs\windows.md in this folder.
pause
exit /b 1
