/**
 * Read a fetch Response's body as UTF-8 text, refusing it as soon as it passes `maxBytes`. A
 * declared Content-Length over the bound is refused before reading; a chunked body without one is
 * cut at the bound, so a peer can never make the reader hold more than `maxBytes`.
 */
import { Buffer } from 'node:buffer';

export class BodyTooLargeError extends Error {
  constructor(readonly maxBytes: number, readonly declared?: number) {
    super(declared === undefined ? `response larger than ${maxBytes} bytes` : `response too large (${declared} bytes, at most ${maxBytes})`);
    this.name = 'BodyTooLargeError';
  }
}

export async function readBoundedText(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel();
    throw new BodyTooLargeError(maxBytes, declared);
  }
  if (res.body === null) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new BodyTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}
