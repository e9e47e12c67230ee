// The CSV and JSON Lines readers and readSource: what they read, the provenance hash, chunk
// boundaries, and every bad-data case with the row and column in the message.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlywheelError } from '../../src/errors.js';
import { CsvParser } from '../../src/trainer/data/csv.js';
import { readSource, writeCsv, generateSynthetic } from '../../src/trainer/data/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flywheel-readers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function failure(
  spec: string,
  opts: { target?: string; features?: string[] } = {},
): Promise<FlywheelError> {
  const err = await readSource(spec, { rows: 10, seed: 1, ...opts }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(FlywheelError);
  return err as FlywheelError;
}

describe('CSV', () => {
  it('reads the target and the other columns as features, with the file’s sha256', async () => {
    const text = 'a,b,y\n1,2,3\n4,5.5,6\n-7,8e2,9\n';
    const path = await file('basic.csv', text);
    const { dataset, provenance } = await readSource(`csv:${path}`, { target: 'y', rows: 0, seed: 0 });
    expect(dataset.featureNames).toEqual(['a', 'b']);
    expect(dataset.targetName).toBe('y');
    expect(dataset.rows).toBe(3);
    expect([...dataset.columns[0]]).toEqual([1, 4, -7]);
    expect([...dataset.columns[1]]).toEqual([2, 5.5, 800]);
    expect([...dataset.target]).toEqual([3, 6, 9]);
    expect(provenance).toEqual({
      source: `csv:${path}`,
      rows: 3,
      sha256: createHash('sha256').update(text).digest('hex'),
    });
  });

  it('takes a feature list, quoted fields, CRLF, a byte-order mark and blank lines', async () => {
    const path = await file(
      'quirks.csv',
      '\uFEFF"user, id",x,"say ""hi""",engagement_score\r\n"u1",1,"a\nb",10\r\n\r\n"u2", 2 ,"",20\r\n',
    );
    const { dataset } = await readSource(`csv:${path}`, { features: ['x'], rows: 0, seed: 0 });
    expect(dataset.featureNames).toEqual(['x']);
    expect([...dataset.columns[0]]).toEqual([1, 2]);
    expect([...dataset.target]).toEqual([10, 20]);
  });

  it('parses the same records whatever the chunk boundaries', () => {
    const text = 'h1,"h,2",h3\r\n1,"x""y",3\n\n"multi\nline",5,6\r\n7,8,9';
    const whole: [string[], number][] = [];
    const p = new CsvParser('t', (f, line) => whole.push([f, line]));
    p.push(text);
    p.end();
    expect(whole).toEqual([
      [['h1', 'h,2', 'h3'], 1],
      [['1', 'x"y', '3'], 2],
      [['multi\nline', '5', '6'], 4],
      [['7', '8', '9'], 6],
    ]);
    for (let size = 1; size <= 7; size++) {
      const pieces: [string[], number][] = [];
      const q = new CsvParser('t', (f, line) => pieces.push([f, line]));
      for (let i = 0; i < text.length; i += size) q.push(text.slice(i, i + size));
      q.end();
      expect(pieces, `pieces of ${size}`).toEqual(whole);
    }
  });

  it('reads a file of many chunks exactly (what writeCsv wrote)', async () => {
    const ds = generateSynthetic(40_000, 3); // about 3.5 MB: several read chunks
    const path = join(dir, 'big.csv');
    await writeCsv(ds, path);
    const { dataset, provenance } = await readSource(`csv:${path}`, { rows: 0, seed: 0 });
    expect(dataset.columns).toEqual(ds.columns);
    expect(dataset.target).toEqual(ds.target);
    expect(provenance.sha256).toBe(
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
    );
  });

  it('names the file, line, row and column of a bad value', async () => {
    const path = await file('bad.csv', 'a,b,engagement_score\n1,2,3\n4,oops,6\n');
    const err = await failure(`csv:${path}`);
    expect(err.code).toBe('FLY_ERR_DATA_VALUE');
    expect(err.message).toBe(`csv:${path} line 3 (row 2), column "b": "oops" is not a number`);
    expect(err.details).toMatchObject({ line: 3, row: 2, column: 'b' });
    for (const [value, problem] of [
      ['', /is empty \(missing value\)/],
      ['NaN', /"NaN" is not a finite number/],
      ['-Infinity', /is not a finite number/],
      ['inf', /is not a finite number/],
      ['1e999', /is not finite/],
      ['0x10', /is not a number/],
      ['1,5', /field\(s\) where the header has 3/],
    ] as const) {
      const p = await file('bad-value.csv', `a,b,engagement_score\n1,${value},3\n4,5,7\n`);
      const e = await failure(`csv:${p}`);
      expect(e.message, value).toMatch(problem);
      expect(e.message).toMatch(/line 2/);
    }
  });

  it('refuses missing files, unknown columns, empty data, a constant target and broken quoting', async () => {
    expect((await failure(`csv:${join(dir, 'nope.csv')}`)).code).toBe('FLY_ERR_DATA_NOT_FOUND');
    expect((await failure(`csv:${join(dir, 'nope.csv')}`)).message).toMatch(/nope\.csv does not exist/);
    await mkdir(join(dir, 'folder'), { recursive: true });
    expect((await failure(`csv:${join(dir, 'folder')}`)).message).toMatch(/is not a file/);
    const ok = await file('ok.csv', 'a,b,engagement_score\n1,2,3\n2,3,4\n');
    const target = await failure(`csv:${ok}`, { target: 'score' });
    expect(target.code).toBe('FLY_ERR_DATA_COLUMN');
    expect(target.message).toMatch(/no column "score"; its columns are "a", "b", "engagement_score"/);
    expect((await failure(`csv:${ok}`, { features: ['a', 'zz'] })).message).toMatch(/no column "zz"/);
    expect((await failure(`csv:${ok}`, { features: ['engagement_score'] })).message).toMatch(
      /both the target/,
    );
    const empty = await failure(`csv:${await file('empty.csv', '')}`);
    expect(empty.code).toBe('FLY_ERR_DATA_EMPTY');
    const headerOnly = await failure(`csv:${await file('header.csv', 'a,engagement_score\n')}`);
    expect(headerOnly.code).toBe('FLY_ERR_DATA_EMPTY');
    const constant = await failure(`csv:${await file('const.csv', 'a,engagement_score\n1,5\n2,5\n3,5\n')}`);
    expect(constant.code).toBe('FLY_ERR_DATA_CONSTANT_TARGET');
    expect(constant.message).toMatch(/"engagement_score" is 5 in all 3 rows/);
    const dup = await failure(`csv:${await file('dup.csv', 'a,a,engagement_score\n1,2,3\n')}`);
    expect(dup.message).toMatch(/column "a" appears twice/);
    const onlyTarget = await failure(`csv:${await file('only.csv', 'engagement_score\n1\n2\n')}`);
    expect(onlyTarget.message).toMatch(/no feature columns/);
    const quote = await failure(`csv:${await file('quote.csv', 'a,engagement_score\n"1,2\n3,4\n')}`);
    expect(quote.code).toBe('FLY_ERR_DATA_PARSE');
    expect(quote.message).toMatch(/line 2: a quoted field is never closed/);
    const junk = await failure(`csv:${await file('junk.csv', 'a,engagement_score\n"1"x,2\n')}`);
    expect(junk.message).toMatch(/line 2: unexpected text after a closing quote/);
  });
});

describe('JSON Lines', () => {
  it('reads objects, the first one naming the features, with the file’s sha256', async () => {
    const text = '{"a":1,"b":2,"engagement_score":3}\n\n{"b":5,"a":4,"engagement_score":6,"extra":"x"}\n';
    const path = await file('rows.jsonl', text);
    const { dataset, provenance } = await readSource(`jsonl:${path}`, { rows: 0, seed: 0 });
    expect(dataset.featureNames).toEqual(['a', 'b']);
    expect([...dataset.columns[0]]).toEqual([1, 4]);
    expect([...dataset.columns[1]]).toEqual([2, 5]);
    expect([...dataset.target]).toEqual([3, 6]);
    expect(provenance.sha256).toBe(createHash('sha256').update(text).digest('hex'));
    const picked = await readSource(`jsonl:${path}`, { rows: 0, seed: 0, features: ['b'], target: 'a' });
    expect([...picked.dataset.target]).toEqual([1, 4]);
  });

  it('names the line, row and field of bad rows', async () => {
    const cases: [string, string, RegExp][] = [
      ['{"a":1,"engagement_score":2}\n{"a":1,', 'FLY_ERR_DATA_PARSE', /line 2: not valid JSON/],
      [
        '{"a":1,"engagement_score":2}\n[1,2]\n',
        'FLY_ERR_DATA_PARSE',
        /line 2: each line must be a JSON object/,
      ],
      [
        '{"a":1,"engagement_score":2}\n{"engagement_score":3}\n',
        'FLY_ERR_DATA_COLUMN',
        /line 2 \(row 2\): no "a" field/,
      ],
      [
        '{"a":1,"engagement_score":2}\n{"a":"7","engagement_score":3}\n',
        'FLY_ERR_DATA_VALUE',
        /line 2 \(row 2\), column "a": "7" is not a number/,
      ],
      [
        '{"a":1,"engagement_score":2}\n{"a":null,"engagement_score":3}\n',
        'FLY_ERR_DATA_VALUE',
        /column "a": null is not a number/,
      ],
      [
        '{"a":1,"engagement_score":2}\n{"a":1e999,"engagement_score":3}\n',
        'FLY_ERR_DATA_VALUE',
        /column "a": Infinity is not finite/,
      ],
      ['{"a":1,"score":2}\n', 'FLY_ERR_DATA_COLUMN', /no column "engagement_score"/],
      ['\n\n', 'FLY_ERR_DATA_EMPTY', /no data rows/],
      [
        '{"a":1,"engagement_score":2}\n{"a":2,"engagement_score":2}\n',
        'FLY_ERR_DATA_CONSTANT_TARGET',
        /is 2 in all 2 rows/,
      ],
    ];
    for (const [text, code, message] of cases) {
      const err = await failure(`jsonl:${await file('bad.jsonl', text)}`);
      expect(err.code, text).toBe(code);
      expect(err.message, text).toMatch(message);
    }
    expect((await failure(`jsonl:${join(dir, 'none.jsonl')}`)).code).toBe('FLY_ERR_DATA_NOT_FOUND');
  });
});

describe('readSource', () => {
  it('generates synthetic rows, with a feature subset', async () => {
    const { dataset, provenance } = await readSource('synthetic', {
      rows: 30,
      seed: 5,
      features: ['visits_per_week', 'response_rate'],
    });
    const full = generateSynthetic(30, 5);
    expect(dataset.featureNames).toEqual(['visits_per_week', 'response_rate']);
    expect(dataset.columns).toEqual([full.columns[1], full.columns[2]]);
    expect(provenance.rows).toBe(30);
    expect((await failure('synthetic', { target: 'other' })).code).toBe('FLY_ERR_DATA_COLUMN');
    expect((await failure('synthetic', { features: ['nope'] })).message).toMatch(/no column "nope"/);
  });

  it('refuses an unknown source', async () => {
    for (const spec of ['parquet:x', 'csv:', 'mystery']) {
      const err = await failure(spec);
      expect(err.code).toBe('FLY_ERR_USAGE');
      expect(err.message).toMatch(/use synthetic, csv:<path> or jsonl:<path>/);
    }
  });

  it('streams: reading a CSV does not hold the file as text (16 MB heap for a 40 MB file)', async () => {
    const path = join(dir, 'large.csv');
    await writeCsv(generateSynthetic(440_000, 1), path); // about 40 MB of text
    const reader = fileURLToPath(new URL('../../dist/trainer/data/index.js', import.meta.url));
    const script = `import(${JSON.stringify(reader)}).then(async (m) => {
      const { dataset } = await m.readSource(${JSON.stringify(`csv:${path}`)}, { rows: 0, seed: 0 });
      console.log(dataset.rows);
    })`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--max-old-space-size=16', '-e', script]);
    expect(stdout.trim()).toBe('440000');
  });
});
