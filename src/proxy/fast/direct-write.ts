/**
 * Writes that skip node:stream's Writable bookkeeping and go straight to the socket's libuv
 * handle, the way node:net itself does underneath `socket.write`. Measured on the proxy's hot
 * path (bench/RESULTS.md): about 3.7 us less CPU per proxied request, two writes each. The
 * Writable machinery (a WriteWrap per write, onwrite, a nextTick per callback, afterWrite)
 * is most of what a small synchronous write costs in JavaScript.
 *
 * It rests on `process.binding('stream_wrap')` (DEP0111, deprecated in documentation only): when
 * a Node.js release no longer offers it, every write goes through `socket.write` as before.
 *
 * Order and backpressure hold as with `socket.write`:
 * - a direct write is tried only while the Writable holds nothing queued, and libuv keeps its
 *   own queue in order, so direct and Writable writes never overtake each other;
 * - a write the kernel did not take whole stays queued in libuv and returns false, and the
 *   socket emits 'drain' when it is done (a spare 'drain' only means "try again");
 * - a failed write destroys the socket with the error, as a failed `socket.write` does.
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

interface WriteReq {
  handle?: unknown;
  buffer?: Uint8Array;
  oncomplete?: (status: number) => void;
}

interface StreamHandle {
  writeLatin1String(req: WriteReq, data: string): number;
  writeBuffer(req: WriteReq, data: Uint8Array): number;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

function loadBinding(): StreamWrapBinding | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding('stream_wrap') as Partial<StreamWrapBinding>;
    if (typeof binding.WriteWrap !== 'function' || !(binding.streamBaseState instanceof Int32Array) || typeof binding.kLastWriteWasAsync !== 'number') return undefined;
    return binding as StreamWrapBinding;
  } catch {
    return undefined;
  }
}

/** Direct writes for the sockets of one proxy process. */
export class DirectWriter {
  private readonly binding: StreamWrapBinding | undefined;
  /** reused for every write the kernel takes at once (libuv never holds on to it then) */
  private spare: WriteReq | undefined;

  constructor(enabled = true) {
    this.binding = enabled ? loadBinding() : undefined;
    this.spare = this.binding ? new this.binding.WriteWrap() : undefined;
  }

  get direct(): boolean {
    return this.binding !== undefined;
  }

  /** `socket.write(data, 'latin1')` for strings, `socket.write(data)` for bytes; same result. */
  write(socket: Socket, data: string | Uint8Array): boolean {
    const binding = this.binding;
    const handle = (socket as unknown as { _handle: StreamHandle | null })._handle;
    // a TLS socket's handle encrypts and finishes every write later: each direct write would
    // report backpressure, so those go through the Writable (encrypted ones gain nothing here)
    if (binding === undefined || handle === null || socket.connecting || socket.writableLength !== 0 || socket.destroyed || socket.writableEnded || (socket as { encrypted?: boolean }).encrypted === true) {
      return typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data);
    }
    const req = this.spare!;
    const err = typeof data === 'string' ? handle.writeLatin1String(req, data) : handle.writeBuffer(req, data);
    if (err !== 0) {
      // node may have bound (and then disposed) a native request on it: never reuse it
      this.spare = new binding.WriteWrap();
      const code = getSystemErrorName(err);
      socket.destroy(Object.assign(new Error(`write ${code}`), { code, errno: err, syscall: 'write' }));
      return false;
    }
    if (binding.streamBaseState[binding.kLastWriteWasAsync] === 0) return true;
    // libuv holds the rest with this request: it stays with that write, a fresh one is spare
    this.spare = new binding.WriteWrap();
    req.handle = handle;
    if (typeof data !== 'string') req.buffer = data;
    req.oncomplete = (status: number) => {
      req.buffer = undefined;
      if (status < 0) {
        const code = getSystemErrorName(status);
        socket.destroy(Object.assign(new Error(`write ${code}`), { code, errno: status, syscall: 'write' }));
      } else if (!socket.destroyed) socket.emit('drain');
    };
    return false;
  }
}
