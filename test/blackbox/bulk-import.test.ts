import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { makeMp3 } from '../helpers/audio';
import { describeEachBackend } from '../helpers/backends';
import { runCli } from '../helpers/child';
import { countRows, objectKeys, readAudio } from '../helpers/inspect';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { tempDir } from '../helpers/temp';
import { makeWav } from '../helpers/wav';

/**
 * `callvault import <folder> --metadata <file.csv>`: an old system's recordings moved in. Good
 * rows are stored through the webhook path; a corrupt file, a bad date and a repeated row are
 * refused with their line numbers and reasons; a second run changes nothing.
 */

const sha = (bytes: Buffer): string => crypto.createHash('sha256').update(bytes).digest('hex');

describeEachBackend('bulk import from a folder and a metadata CSV', (backend) => {
  let t: TestApp;
  let folder: { dir: string; cleanup: () => void };
  const wavA = makeWav({ seconds: 2, frequency: 300 });
  const wavB = makeWav({ seconds: 1, frequency: 500 });
  const mp3 = makeMp3(2);

  beforeEach(async () => {
    t = await startTestApp({ backend, workers: false });
    folder = tempDir('callvault-import');
    fs.mkdirSync(path.join(folder.dir, '2019'));
    fs.writeFileSync(path.join(folder.dir, 'a.wav'), wavA);
    fs.writeFileSync(path.join(folder.dir, '2019', 'old.wav'), wavB);
    fs.writeFileSync(path.join(folder.dir, 'c.mp3'), mp3);
    fs.writeFileSync(path.join(folder.dir, 'corrupt.wav'), crypto.randomBytes(4000));
  });
  afterEach(async () => {
    await t?.close();
    folder?.cleanup();
  });

  const csv = [
    'file,recordingId,startedAt,from,to,extension,line,team,staff,parties,category,direction',
    'a.wav,old-1,2026-11-20 09:14:03,07700 900123,+441632960001,201,main,reception,jsmith;akhan,Jane Patient|caller;Dr Who|clinician,clinical,inbound',
    '2019/old.wav,old-2,2019-03-01T10:00:00Z,+447700900456,+441632960001,202,main,reception,,,admin,outbound',
    'c.mp3,old-3,2026-07-01 15:30,07700 900789,,203,bypass,,,,,inbound',
    'corrupt.wav,old-4,2026-11-20 10:00,07700 900999,,,,,,,,',
    'a.wav,old-5,20/11/2026 11:00,07700 900111,,,,,,,,',
    'a.wav,old-1,2026-11-20 09:14:03,07700 900123,,,,,,,,',
    'missing.wav,old-6,2026-11-20 12:00,,,,,,,,,',
    '',
  ].join('\n');

  it('imports exactly the good rows, reports the others with line numbers, and a second run skips what is in', async () => {
    const csvFile = path.join(folder.dir, 'metadata.csv');
    fs.writeFileSync(csvFile, csv);
    const first = await runCli(['import', folder.dir, '--metadata', csvFile, '--source', 'oldpbx'], t.env);
    expect(first.stdout).toMatch(/imported 3 recording\(s\) .* from 7 row\(s\); 0 already imported \(skipped\); 4 rejected/);
    expect(first.stdout).toMatch(/1 of the imported recording\(s\) are already past their retention period/);
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/importing/);

    // The rejects file is CSV a spreadsheet opens: line, recordingId, file, code, reason.
    const rejects = parseCsv(fs.readFileSync(path.join(folder.dir, 'metadata.rejects.csv'), 'utf8')) as string[][];
    expect(rejects[0]).toEqual(['line', 'recordingId', 'file', 'code', 'reason']);
    expect(rejects.slice(1).map((row) => row.slice(0, 4))).toEqual([
      ['5', 'old-4', 'corrupt.wav', 'E_AUDIO_UNSUPPORTED'],
      ['6', 'old-5', 'a.wav', 'E_VALIDATION'],
      ['7', 'old-1', 'a.wav', 'E_IMPORT_DUPLICATE_ROW'],
      ['8', 'old-6', 'missing.wav', 'E_AUDIO_MISSING'],
    ]);
    expect(rejects[2]![4]).toMatch(/^startedAt: "20\/11\/2026 11:00" is not a date-time/);
    expect(rejects[3]![4]).toMatch(/repeats line 2/);

    // Exactly the good ones, indexed like webhook recordings, with the original call dates.
    const stored = await t.app.db.knex('recordings').where({ source: 'oldpbx' }).orderBy('source_recording_id');
    expect(stored.map((row: { source_recording_id: string; status: string }) => [row.source_recording_id, row.status])).toEqual([
      ['old-1', 'stored'],
      ['old-2', 'stored'],
      ['old-3', 'stored'],
    ]);
    const one = (await t.app.recordings.findBySource('oldpbx', 'old-1'))!;
    expect(one).toMatchObject({ fromNumber: '+447700900123', extension: '201', team: 'reception', category: 'clinical', direction: 'inbound', staff: ['akhan', 'jsmith'], format: 'wav', sha256: sha(wavA) });
    expect(one.parties).toEqual([{ name: 'Jane Patient', role: 'caller' }, { name: 'Dr Who', role: 'clinician' }]);
    // Local time in Europe/London (GMT in November); clinical = 36 months from the call.
    expect(one.startedAt!.toISOString()).toBe('2026-11-20T09:14:03.000Z');
    expect(one.retainUntil.toISOString()).toBe('2029-11-20T09:14:03.000Z');
    const summer = (await t.app.recordings.findBySource('oldpbx', 'old-3'))!;
    expect(summer.startedAt!.toISOString()).toBe('2026-07-01T14:30:00.000Z');
    expect(summer.format).toBe('mp3');
    expect((await readAudio(t.app, summer)).sha256).toBe(sha(mp3));
    const old = (await t.app.recordings.findBySource('oldpbx', 'old-2'))!;
    expect(old.retainUntil.toISOString()).toBe('2019-03-29T10:00:00.000Z');
    expect(await countRows(t.app, 'recordings')).toBe(3);
    // Never half-imported: the corrupt file left no object behind, only the three stored ones exist.
    const objectsBefore = await objectKeys(t.app);
    expect(objectsBefore.sort()).toEqual(stored.map((row: { storage_key: string }) => row.storage_key).sort());

    // The 2019 call is destroyed by retention (its job row gone too): a re-run must not bring it back.
    await t.app.db.knex('recordings').where({ id: old.id }).update({ status: 'destroyed', storage_key: null, wrapped_key: null });
    await t.app.db.knex('jobs').where({ source: 'oldpbx', source_recording_id: 'old-2' }).delete();

    // Second run: nothing new is stored, the same rows are reported.
    const second = await runCli(['import', folder.dir, '--metadata', csvFile, '--source', 'oldpbx', '--json'], t.env);
    const summary = JSON.parse(second.stdout) as { imported: number; alreadyImported: number; rejected: Array<{ line: number; code: string }> };
    expect(summary.imported).toBe(0);
    expect(summary.alreadyImported).toBe(3);
    expect(summary.rejected.map((row) => [row.line, row.code])).toEqual([
      [5, 'E_AUDIO_UNSUPPORTED'],
      [6, 'E_VALIDATION'],
      [7, 'E_IMPORT_DUPLICATE_ROW'],
      [8, 'E_AUDIO_MISSING'],
    ]);
    expect(await countRows(t.app, 'recordings')).toBe(3);
    expect(await objectKeys(t.app)).toEqual(objectsBefore);
    expect((await t.app.recordings.findBySource('oldpbx', 'old-2'))!.status).toBe('destroyed');

    // The corrupt file replaced by a good one: the next run imports that row too.
    fs.writeFileSync(path.join(folder.dir, 'corrupt.wav'), wavB);
    const third = await runCli(['import', folder.dir, '--metadata', csvFile, '--source', 'oldpbx'], t.env);
    expect(third.stdout).toMatch(/imported 1 recording\(s\).*3 already imported/);
    expect((await t.app.recordings.findBySource('oldpbx', 'old-4'))!.status).toBe('stored');
  });

  it('a CSV with an unknown column or an unclosed quote stores nothing and says why', async () => {
    const typo = path.join(folder.dir, 'typo.csv');
    fs.writeFileSync(typo, 'file,recordingId,startedAt,categroy\na.wav,x-1,2026-11-20T09:00:00Z,admin\n');
    const result = await runCli(['import', folder.dir, '--metadata', typo], t.env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/E_IMPORT_METADATA: unknown column "categroy"/);
    const broken = path.join(folder.dir, 'broken.csv');
    fs.writeFileSync(broken, 'file,recordingId,startedAt\na.wav,x-1,2026-11-20T09:00:00Z\n"c.mp3,x-2,2026-11-20T09:00:00Z\n');
    const unclosed = await runCli(['import', folder.dir, '--metadata', broken], t.env);
    expect(unclosed.code).toBe(1);
    expect(unclosed.stderr).toMatch(/E_IMPORT_METADATA: .*not valid CSV \(line \d\)/);
    expect(await countRows(t.app, 'recordings')).toBe(0);
  });

  it('--dry-run checks rows and files but stores nothing', async () => {
    const csvFile = path.join(folder.dir, 'metadata.csv');
    fs.writeFileSync(csvFile, csv);
    const result = await runCli(['import', folder.dir, '--metadata', csvFile, '--dry-run', '--rejects', path.join(folder.dir, 'r.csv')], t.env);
    expect(result.stdout).toMatch(/dry run: 7 row\(s\); 4 would be imported .* 3 rejected/);
    expect(fs.readFileSync(path.join(folder.dir, 'r.csv'), 'utf8')).toMatch(/E_IMPORT_DUPLICATE_ROW/);
    expect(await countRows(t.app, 'recordings')).toBe(0);
  });
});
