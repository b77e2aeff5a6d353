// Every test file belongs to exactly one group (test/groups.json, a vitest project of
// vitest.config.mts): a file in no group would never run, not even in `npm test`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const GROUPS = JSON.parse(fs.readFileSync(path.join(__dirname, 'groups.json'), 'utf8')) as Record<string, string[]>;

/** Test files under test/, relative to it. */
function testFiles(dir = __dirname, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...testFiles(path.join(dir, e.name), r));
    else if (/\.(test|spec)\.[cm]?[jt]sx?$/.test(e.name)) out.push(r);
  }
  return out.sort();
}

describe('test groups', () => {
  it('every test file under test/ is in exactly one group, and every listed file exists', () => {
    const groupsOf = new Map<string, string[]>();
    for (const [group, files] of Object.entries(GROUPS)) for (const f of files) groupsOf.set(f, [...(groupsOf.get(f) ?? []), group]);
    const onDisk = testFiles();
    expect(onDisk.filter((f) => !groupsOf.has(f)), 'test files in no group of test/groups.json').toEqual([]);
    expect([...groupsOf].filter(([, gs]) => gs.length > 1), 'test files in more than one group').toEqual([]);
    expect([...groupsOf.keys()].filter((f) => !onDisk.includes(f)), 'files listed in test/groups.json that do not exist').toEqual([]);
    expect(Object.keys(GROUPS)).toEqual(['unit', 'integration', 'kvm']);
  });

  it('vitest.config.mts makes one project of each group, on exactly its files', async () => {
    // A computed path: the config is ESM, loaded here as vitest loads it, not type-checked by tsc.
    const configFile = path.join(__dirname, '..', 'vitest.config.mts');
    const { default: config } = (await import(configFile)) as {
      default: { test: { projects: Array<{ test: { name: string; include: string[] } }> } };
    };
    const projects = Object.fromEntries(config.test.projects.map((p) => [p.test.name, p.test.include]));
    expect(projects).toEqual(Object.fromEntries(Object.entries(GROUPS).map(([g, files]) => [g, files.map((f) => `test/${f}`)])));
  });
});
