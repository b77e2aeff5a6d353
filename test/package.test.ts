import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers';

const root = path.join(__dirname, '..');

// dist/ is compiled before vitest starts (npm test runs tsc) and checked by the integration
// project's globalSetup (test/support/built.ts); this test only loads it.
describe('the built package', () => {
  it("works with require('rondo') and import { Store } from 'rondo'", () => {
    const app = tempDir();
    fs.mkdirSync(path.join(app, 'node_modules'));
    fs.symlinkSync(root, path.join(app, 'node_modules', 'rondo'), 'dir');
    const store = path.join(app, 'store');
    const cjs = `const { Store } = require('rondo'); const s = Store.open(${JSON.stringify(store)}); const h = s.register('x'); s.record(h, 7); console.log(s.lastPoint(h)[1]); s.close();`;
    expect(execFileSync(process.execPath, ['-e', cjs], { cwd: app, encoding: 'utf8' }).trim()).toBe('7');
    const esm = `import { Store, RondoError } from 'rondo'; const s = Store.openReadOnly(${JSON.stringify(store)}); console.log(s.lastPoint(s.find('x'))[1], typeof RondoError); s.close();`;
    expect(execFileSync(process.execPath, ['--input-type=module', '-e', esm], { cwd: app, encoding: 'utf8' }).trim()).toBe('7 function');
  });
});
