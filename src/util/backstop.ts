/**
 * The last line of defence for an error thrown where no component was told how to report it. In
 * Node-RED an uncaught exception stops the runtime, so it is written to the process's warnings
 * instead (`stackWarning`), and counted.
 */
export function backstop(err: Error): void {
  backstopCount++;
  stackWarning(err, "was caught before it could stop Node-RED");
}

/**
 * Writes where an internal error happened to the process's warnings, for support. Only the error's
 * name and stack frames go out: its message may carry what a flow sent (an identifier, a word of a
 * transcript), which must not reach a log.
 */
export function stackWarning(err: Error, what: string): void {
  const frames = (err.stack ?? "").split("\n").filter((line) => /^\s+at /.test(line));
  process.emitWarning(
    `@medstream/node-red-medical-transcription: an internal ${err.name} ${what}\n${frames.join("\n")}`,
    { code: "MEDSTREAM_INTERNAL_ERROR" },
  );
}

let backstopCount = 0;

/** How many errors reached the backstop in this process: a test asserts it stays at zero. */
export function backstopErrors(): number {
  return backstopCount;
}
