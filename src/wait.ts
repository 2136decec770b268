/**
 * Waits, checking every `everyMs`, until `done()` holds or the clock passes `deadline` (ms,
 * Date.now). For shutdown paths that wait on counts no event announces (requests in flight,
 * connections still flushing); true when `done()` held.
 */
export async function pollUntil(done: () => boolean, deadline: number, everyMs = 20): Promise<boolean> {
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return true;
}
