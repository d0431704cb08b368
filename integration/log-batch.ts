// Astro's generate loop logs two lines per page, each a synchronous write(2) to stdout. When stdout is a
// pipe (CI, a build tool, the benchmark), every write also wakes the reader: at a few hundred pages a second
// that cost the example-site build with fragments 35-45 % of its render time (file: 3.6-5.5 s, pipe:
// 5.2-7.4 s). While the worker prerenderer runs, stdout is corked and uncorked once per turn of the event
// loop (Node writes the lines of a turn with one writev). stderr uncorks stdout first, so the two streams
// keep their order; nothing is held past the turn in which it was written.

/** Batches stdout writes per event-loop turn; returns the function that restores the streams. */
export function batchStdout(
  stdout: NodeJS.WriteStream = process.stdout,
  stderr: NodeJS.WriteStream = process.stderr,
): () => void {
  const write = stdout.write;
  const writeErr = stderr.write;
  let corked = false;
  const flush = () => {
    if (!corked) return;
    corked = false;
    stdout.uncork();
  };
  const batched = function (this: NodeJS.WriteStream, ...args: Parameters<typeof write>) {
    if (!corked) {
      corked = true;
      stdout.cork();
      setImmediate(flush);
    }
    return write.apply(this, args);
  } as typeof write;
  const ordered = function (this: NodeJS.WriteStream, ...args: Parameters<typeof writeErr>) {
    flush();
    return writeErr.apply(this, args);
  } as typeof writeErr;
  stdout.write = batched;
  stderr.write = ordered;
  return () => {
    flush();
    // Only what is still ours (something may have wrapped the streams meanwhile).
    if (stdout.write === batched) stdout.write = write;
    if (stderr.write === ordered) stderr.write = writeErr;
  };
}
