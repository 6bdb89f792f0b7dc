import { describe, expect, it } from 'vitest';
import { formatRecord, formatTable, formatTime, Output, printable } from '#cli/output.ts';

type Row = { id: string; name: string; secure: boolean; count?: number };
const columns = [
  { header: 'id', value: (r: Row) => r.id },
  { header: 'name', value: (r: Row) => r.name },
  { header: 'secure', value: (r: Row) => r.secure },
  { header: 'count', value: (r: Row) => r.count },
];

describe('formatTable', () => {
  it('aligns columns two spaces apart under capital headers, with no trailing blanks', () => {
    // Prepare
    const rows: Row[] = [
      { id: 'app_1', name: 'web-api', secure: true, count: 3 },
      { id: 'app_22', name: 'db', secure: false },
    ];

    // Act
    const text = formatTable(rows, columns);

    // Assess
    expect(text.split('\n')).toEqual([
      'ID      NAME     SECURE  COUNT',
      'app_1   web-api  yes     3',
      'app_22  db       no      -',
    ]);
    for (const line of text.split('\n')) expect(line).toBe(line.trimEnd());
  });

  it('does not let control characters from names reach the terminal', () => {
    const text = formatTable([{ id: 'x', name: 'evil\u001b[2Jname\u202e', secure: false }], columns);
    expect(text).not.toContain('\u001b');
    expect(text).not.toContain('\u202e');
    expect(text).toContain('evil?[2Jname?');
  });

  it('counts code points, not UTF-16 units, when aligning', () => {
    const text = formatTable([{ id: '😀', name: 'a', secure: true }, { id: 'ab', name: 'b', secure: true }], columns.slice(0, 2));
    expect(text.split('\n')).toEqual(['ID  NAME', '😀   a', 'ab  b']);
  });
});

describe('formatRecord and cells', () => {
  it('lines up keys and shows an empty value as a dash', () => {
    expect(formatRecord([['account', 'Acme'], ['role', undefined]])).toBe('account  Acme\nrole     -');
    expect(printable('')).toBe('-');
    expect(printable(null)).toBe('-');
  });

  it('shortens ISO times to the minute, in UTC', () => {
    expect(formatTime('2026-11-23T08:55:51.402Z')).toBe('2026-11-23 08:55Z');
    expect(formatTime(undefined)).toBe('-');
  });
});

describe('Output', () => {
  const capture = (json: boolean) => {
    const out = { stdout: '', stderr: '' };
    const output = new Output((t) => (out.stdout += t), (t) => (out.stderr += t), json);
    return { out, output };
  };

  it('prints a list as a table, or as a JSON array with --json, and notes on stderr only', () => {
    const items = [{ id: 'a', name: 'n', secure: true }];
    const human = capture(false);
    human.output.list(items, columns.slice(0, 2), { empty: 'none', more: 'there are more' });
    expect(human.out.stdout).toBe('ID  NAME\na   n\n');
    expect(human.out.stderr).toBe('there are more\n');

    const json = capture(true);
    json.output.list(items, columns, { empty: 'none', more: 'there are more' });
    expect(JSON.parse(json.out.stdout)).toEqual(items);
    expect(json.out.stderr).toBe('there are more\n');
  });

  it('says so when a list is empty', () => {
    const { out, output } = capture(false);
    output.list([], columns, { empty: 'No applications yet.' });
    expect(out.stdout).toBe('No applications yet.\n');
  });
});
