/** WebSocket frames built and parsed by hand (RFC 6455 §5.2), for peers that misbehave on purpose. */

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface FrameOptions {
  fin?: boolean;
  /** A client must mask; pass `null` to send an (illegal) unmasked client frame. */
  mask?: Buffer | null;
}

export function clientFrame(opcode: number, payload: Buffer, { fin = true, mask = Buffer.from([0x37, 0xfa, 0x21, 0x3d]) }: FrameOptions = {}): Buffer {
  const maskBit = mask === null ? 0 : 0x80;
  let header: Buffer;
  if (payload.length < 126) {
    header = Buffer.alloc(2);
    header[1] = maskBit | payload.length;
  } else if (payload.length < 65_536) {
    header = Buffer.alloc(4);
    header[1] = maskBit | 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  header[0] = (fin ? 0x80 : 0) | opcode;
  if (mask === null) return Buffer.concat([header, payload]);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([header, mask, masked]);
}

export interface ServerFrame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/** Parse the unmasked frames a server sends; a trailing partial frame is ignored. */
export function parseServerFrames(data: Buffer): ServerFrame[] {
  const frames: ServerFrame[] = [];
  let offset = 0;
  while (offset + 2 <= data.length) {
    const first = data[offset]!;
    let length = data[offset + 1]! & 0x7f;
    let start = offset + 2;
    if (length === 126) {
      if (start + 2 > data.length) break;
      length = data.readUInt16BE(start);
      start += 2;
    } else if (length === 127) {
      if (start + 8 > data.length) break;
      length = Number(data.readBigUInt64BE(start));
      start += 8;
    }
    if (start + length > data.length) break;
    frames.push({ fin: (first & 0x80) !== 0, opcode: first & 0x0f, payload: data.subarray(start, start + length) });
    offset = start + length;
  }
  return frames;
}

/** The status code of a close frame (1005 if it carries none). */
export function closeCodeOf(frame: ServerFrame): number {
  return frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005;
}
