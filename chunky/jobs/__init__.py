"""The job runner: queued transcription jobs, one worker thread, job history on disk. No Gradio."""
