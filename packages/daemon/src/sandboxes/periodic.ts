/**
 * Runs `task` every `intervalMs`, never two at once (a slow round skips the next tick), without
 * keeping the process alive. Returns the function that stops it.
 */
export function every(intervalMs: number, task: () => Promise<void>): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void task().finally(() => (busy = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
