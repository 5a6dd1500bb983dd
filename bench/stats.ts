/** Small numeric helpers for the bench. */

/** The value at quantile q (0..1) of an ascending array (nearest rank). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A number with at most `digits` decimals and no trailing zeros. */
export function num(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return String(value);
  return Number(value.toFixed(digits)).toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** Dollars: enough digits to be readable at any scale. */
export function usd(value: number): string {
  if (value === 0) return '$0';
  if (value >= 100) return `$${num(value, 0)}`;
  if (value >= 1) return `$${num(value, 2)}`;
  const digits = Math.max(2, 1 - Math.floor(Math.log10(value)) + 1);
  return `$${value.toFixed(Math.min(digits, 10))}`;
}

export const kib = (bytes: number) => `${num(bytes / 1024, 1)} KiB`;

/** Left-aligned text table: the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(rows[0]!), line(widths.map((w) => '-'.repeat(w))), ...rows.slice(1).map(line)].join(
    '\n',
  );
}

/** A markdown table: the first row is the header. */
export function markdownTable(rows: readonly (readonly string[])[]): string {
  const line = (row: readonly string[]) =>
    `| ${row.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(rows[0]!), line(rows[0]!.map(() => '---')), ...rows.slice(1).map(line)].join('\n');
}

/** A URL query string. */
export const query = (params: Record<string, string>) => new URLSearchParams(params).toString();
