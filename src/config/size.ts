/**
 * Byte sizes in config: a bare integer of bytes, or a number with a unit. Binary units (KiB, MiB,
 * GiB) are powers of 1024 and decimal units (KB, MB, GB) powers of 1000, so "1KB" is 1000 bytes.
 */
const UNIT_BYTES: Readonly<Record<string, number>> = {
  B: 1,
  KB: 1_000,
  kB: 1_000,
  MB: 1_000_000,
  GB: 1_000_000_000,
  KiB: 1_024,
  MiB: 1_048_576,
  GiB: 1_073_741_824,
};
const SIZE = /^(\d+)(?:\.(\d+))?\s*(B|kB|KB|MB|GB|KiB|MiB|GiB)?$/;

/** Whole bytes, or undefined when the input is not a size or is not a whole number of bytes. */
export function parseByteSize(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  const match = SIZE.exec(input.trim());
  if (match === null) return undefined;
  // Whole numbers only (BigInt): "1.001KB" is 1001 bytes, though 1.001 * 1000 is not 1001 in floating point.
  const decimals = match[2] ?? '';
  const scaled = BigInt((match[1] ?? '') + decimals) * BigInt(UNIT_BYTES[match[3] ?? 'B'] ?? 1);
  const divisor = 10n ** BigInt(decimals.length);
  if (scaled % divisor !== 0n) return undefined;
  const bytes = Number(scaled / divisor);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Render bytes in the largest binary unit that divides them exactly: 65536 -> "64KiB". */
export function formatBytes(bytes: number): string {
  for (const unit of ['GiB', 'MiB', 'KiB'] as const) {
    const size = UNIT_BYTES[unit] ?? 1;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
