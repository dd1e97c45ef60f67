// `npm run package`: the installable tarball, `npm pack` with every dependency
// bundled in (and the overrides of package.json already applied to them), so
// `npm install -g ./layerseed-<version>.tgz` needs neither the repository nor
// the npm registry. bundleDependencies is set only while packing: with it in
// package.json, npm 11's `npm ci` and `npm install` never finish resolving the
// overrides. Arguments go on to `npm pack`.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const file = path.join(root, 'package.json')
const original = fs.readFileSync(file, 'utf8')
fs.writeFileSync(file, `${JSON.stringify({ ...JSON.parse(original), bundleDependencies: true }, null, 2)}\n`)
try {
  execFileSync('npm', ['pack', ...process.argv.slice(2)], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
} finally {
  fs.writeFileSync(file, original)
}
