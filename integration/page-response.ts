// The Response the worker prerenderer hands to Astro for a page rendered in a thread.

/**
 * The transferred body, without the copy (and the stream) `new Response(buffer)` makes: that would copy it,
 * and `arrayBuffer()` would copy it again through a stream. Astro's generate loop checks `body` and calls
 * `arrayBuffer()`, which returns the buffer as is; `body` still gives a stream.
 */
export class PageResponse extends Response {
  #bytes: ArrayBuffer;
  #stream: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;
  #used = false;
  constructor(bytes: ArrayBuffer, init: ResponseInit) {
    super(null, init);
    this.#bytes = bytes;
  }
  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> {
    const bytes = this.#bytes;
    return (this.#stream ??= new ReadableStream<Uint8Array<ArrayBuffer>>({
      start(c) {
        c.enqueue(new Uint8Array(bytes));
        c.close();
      },
    }));
  }
  override get bodyUsed(): boolean {
    return this.#used || (this.#stream?.locked ?? false);
  }
  #take(): ArrayBuffer {
    if (this.bodyUsed) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.#bytes;
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    try {
      return Promise.resolve(this.#take());
    } catch (e) {
      return Promise.reject(e);
    }
  }
  override bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return this.arrayBuffer().then((b) => new Uint8Array(b));
  }
  override text(): Promise<string> {
    return this.arrayBuffer().then((b) => new TextDecoder().decode(b));
  }
  override clone(): Response {
    if (this.bodyUsed) throw new TypeError('Response.clone: Body has already been consumed.');
    const init = { status: this.status, statusText: this.statusText, headers: this.headers };
    return new PageResponse(this.#bytes.slice(0), init);
  }
}
