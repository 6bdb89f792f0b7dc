import { MalformedError } from './errors.ts';

/** Big-endian, length-prefixed binary writer: every on-disk/on-wire structure here uses it. */
export class ByteWriter {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  u8(n: number): this {
    return this.fixed(1, (b) => b.writeUInt8(n));
  }
  u16(n: number): this {
    return this.fixed(2, (b) => b.writeUInt16BE(n));
  }
  u32(n: number): this {
    return this.fixed(4, (b) => b.writeUInt32BE(n));
  }
  /** u64 from a JS number: sizes and millisecond times stay far below 2^53. */
  u64(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`u64 out of range: ${n}`);
    return this.fixed(8, (b) => b.writeBigUInt64BE(BigInt(n)));
  }
  bytes(b: Uint8Array): this {
    this.parts.push(b);
    this.length += b.byteLength;
    return this;
  }
  /** Fixed-length field: the length is checked here so a wrong-sized key cannot slip into a format. */
  exact(b: Uint8Array, size: number, what: string): this {
    if (b.byteLength !== size) throw new RangeError(`${what} must be ${size} bytes`);
    return this.bytes(b);
  }
  prefixed16(b: Uint8Array): this {
    if (b.byteLength > 0xffff) throw new RangeError('field longer than 65535 bytes');
    return this.u16(b.byteLength).bytes(b);
  }
  finish(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
  private fixed(size: number, write: (b: Buffer) => void): this {
    const b = Buffer.allocUnsafe(size);
    write(b);
    return this.bytes(b);
  }
}

/** The reading side: every overrun or leftover is a MalformedError naming the structure. */
export class ByteReader {
  private offset = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  get position(): number {
    return this.offset;
  }
  u8(): number {
    return this.take(1).readUInt8();
  }
  u16(): number {
    return this.take(2).readUInt16BE();
  }
  u32(): number {
    return this.take(4).readUInt32BE();
  }
  u64(): number {
    const v = this.take(8).readBigUInt64BE();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedError(`${this.what}: integer out of range`);
    return Number(v);
  }
  bytes(n: number): Buffer {
    return this.take(n);
  }
  prefixed16(): Buffer {
    return this.take(this.u16());
  }
  rest(): Buffer {
    return this.take(this.buf.byteLength - this.offset);
  }
  end(): void {
    if (this.offset !== this.buf.byteLength) throw new MalformedError(`${this.what}: unexpected trailing bytes`);
  }
  private take(n: number): Buffer {
    if (this.offset + n > this.buf.byteLength) throw new MalformedError(`${this.what}: too short`);
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}

export const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

export const checkMagic = (actual: Buffer, expected: Buffer, what: string): void => {
  if (!actual.equals(expected)) throw new MalformedError(`${what}: bad magic`);
};
