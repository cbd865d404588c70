/**
 * A one-line live status on a terminal: phase, elapsed time and the last
 * build output line, redrawn a few times a second. Off a terminal it
 * writes nothing, because the log file has every line.
 */
export class BuildProgress {
  private phase = "starting";
  private lastLine = "";
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly stream: NodeJS.WriteStream | undefined) {
    if (this.stream?.isTTY) {
      this.timer = setInterval(() => this.render(), 250);
      this.timer.unref();
    }
  }

  setPhase(phase: string): void {
    this.phase = phase;
    this.lastLine = "";
    this.render();
  }

  setLine(line: string): void {
    this.lastLine = line;
  }

  /** Clears the status line, so later messages start on a clean line. */
  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.stream!.write("\r\x1b[2K");
  }

  private render(): void {
    if (this.timer === undefined) return;
    const seconds = ((Date.now() - this.started) / 1000).toFixed(1);
    const head = `[${this.phase} ${seconds}s] `;
    const width = (this.stream!.columns || 80) - 1;
    // Control characters in build output would break the one-line display.
    const line = this.lastLine.replace(/[\x00-\x1f\x7f]/g, " ");
    this.stream!.write(`\r\x1b[2K${(head + line).slice(0, width)}`);
  }
}
