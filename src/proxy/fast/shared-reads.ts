/**
 * Client sockets read into one buffer shared by every connection of the process, as upstream
 * sockets already do through net's `onread` option. Node offers `onread` only to sockets it
 * connects; an accepted socket gets the same mode here by setting, on a socket accepted with
 * `pauseOnConnect`, the fields `onread` sets (found by their names on a socket made with
 * `onread`) before its first read. Measured on the proxy's hot path (bench/RESULTS.md): about
 * 4 us less CPU per proxied request than a fresh ArrayBuffer and a Readable.push per read.
 *
 * Where those fields or the handle's `useUserBuffer` are missing (another Node.js release),
 * sockets are read through 'data' events as before: `shared` says which.
 *
 * A chunk handed to `onData` is a view of the shared buffer and is overwritten by the next
 * read of any connection: whatever must outlive the call is copied.
 */
import { Socket } from 'node:net';

interface OnreadFields {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

type Fields = Record<symbol, unknown>;

interface UserBufferHandle {
  useUserBuffer?: (buffer: Uint8Array) => void;
}

function findOnreadFields(): OnreadFields | undefined {
  const probe = new Socket({ onread: { buffer: Buffer.alloc(1), callback: () => true } });
  try {
    const byName = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s] as const));
    const buffer = byName.get('kBuffer');
    const callback = byName.get('kBufferCb');
    const generator = byName.get('kBufferGen');
    if (buffer === undefined || callback === undefined || generator === undefined) return undefined;
    // the same shape onread gives: the buffer, the callback, no generator
    const fields = probe as unknown as Fields;
    if (!Buffer.isBuffer(fields[buffer]) || typeof fields[callback] !== 'function' || fields[generator] !== null) return undefined;
    return { buffer, callback, generator };
  } finally {
    probe.destroy();
  }
}

export class SharedReads {
  private readonly fields: OnreadFields | undefined;
  private readonly buffer: Buffer | undefined;

  constructor(size = 64 * 1024, enabled = true) {
    this.fields = enabled ? findOnreadFields() : undefined;
    this.buffer = this.fields === undefined ? undefined : Buffer.allocUnsafe(size);
  }

  /** Client reads land in the shared buffer (else in a buffer of their own each). */
  get shared(): boolean {
    return this.fields !== undefined;
  }

  /**
   * Starts reading a socket accepted with `pauseOnConnect` (a TLS socket is read through 'data'). `onData` receives each read; with
   * the shared buffer the chunk is valid only during the call.
   */
  start(socket: Socket, onData: (chunk: Buffer) => void): void {
    const fields = this.fields;
    const handle = (socket as unknown as { _handle: UserBufferHandle | null })._handle;
    // a TLS socket's cleartext may already wait in its Readable buffer when it is handed over
    if (fields === undefined || handle === null || typeof handle.useUserBuffer !== 'function' || (socket as { encrypted?: boolean }).encrypted === true) {
      socket.on('data', onData);
      socket.resume();
      return;
    }
    const buffer = this.buffer!;
    const s = socket as unknown as Fields;
    s[fields.buffer] = buffer;
    s[fields.generator] = null;
    s[fields.callback] = (n: number, buf: Buffer): boolean => {
      onData(buf.subarray(0, n));
      return true;
    };
    handle.useUserBuffer(buffer);
    socket.resume();
  }

  /**
   * From here on the socket's reads are copies pushed to its Readable side ('data', pipe, with
   * the Readable's backpressure): for handing the socket to code that reads it as a stream.
   */
  release(socket: Socket, onData: (chunk: Buffer) => void): void {
    socket.off('data', onData);
    const fields = this.fields;
    const s = socket as unknown as Fields;
    if (fields === undefined || s[fields.buffer] === undefined || s[fields.buffer] === null) return;
    // false stops reading until the stream is read again (net's _read starts it)
    s[fields.callback] = (n: number, buf: Buffer): boolean => socket.push(Buffer.from(buf.subarray(0, n)));
  }
}
