// A generated file, written through a small buffer with back-pressure (bounded memory at any size), under a
// temporary name renamed into place when complete: an interrupted run leaves no file that looks finished.
import { createWriteStream, renameSync, rmSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';

const CHUNK = 1 << 20;

export class Out {
  private readonly ws: WriteStream;
  private buf: string[] = [];
  private pending = 0;
  private readonly partial: string;
  readonly path: string;
  constructor(path: string) {
    this.path = path;
    this.partial = `${path}.partial`;
    this.ws = createWriteStream(this.partial, { highWaterMark: CHUNK });
  }
  /** Appends text (or bytes) to the buffer; call drain() now and then so it does not grow. */
  write(s: string | Uint8Array): void {
    if (typeof s !== 'string') {
      this.flushText();
      this.ws.write(s);
      this.pending += s.length;
      return;
    }
    this.buf.push(s);
    this.pending += s.length;
  }
  private flushText(): void {
    if (this.buf.length === 0) return;
    this.ws.write(this.buf.join(''));
    this.buf = [];
  }
  /** Hands the buffer to the stream once it holds a chunk, waiting while the stream is full. */
  async drain(): Promise<void> {
    if (this.pending < CHUNK) return;
    this.flushText();
    this.pending = 0;
    if (this.ws.writableNeedDrain) await once(this.ws, 'drain');
  }
  async close(): Promise<void> {
    this.flushText();
    this.ws.end();
    await once(this.ws, 'finish');
    renameSync(this.partial, this.path);
  }
  /** Gives up: closes the stream and removes the partial file. */
  async abort(): Promise<void> {
    this.buf = [];
    if (!this.ws.closed) {
      this.ws.destroy();
      await once(this.ws, 'close').catch(() => undefined);
    }
    rmSync(this.partial, { force: true });
  }
}
