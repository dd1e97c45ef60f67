// The CLI as an operator runs it: a real process, its exit code and output.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

describe('layerseed CLI', () => {
  it('prints usage and per-command help', () => {
    assert.match(cli('--help').out, /sidecar[\s\S]*agent[\s\S]*demo/)
    const s = cli('sidecar', '--help')
    assert.equal(s.code, 0)
    assert.match(s.out, /--origin URL/)
    assert.match(s.out, /--listen HOST:PORT.*default: 0\.0\.0\.0:7070/)
    assert.match(cli('agent', '--help').out, /--p2p-stall-timeout DURATION.*default: 10s/)
  })

  it('exits 2 naming every bad key', () => {
    const r = cli('sidecar', '--origin', 'ftp://x', '--peer-port', 'x', '--bogus', '1')
    assert.equal(r.code, 2)
    for (const key of ['--origin', '--peer-port', '--bogus']) assert.ok(r.err.includes(key), r.err)
    const a = cli('agent')
    assert.equal(a.code, 2)
    assert.match(a.err, /--sidecar: is required/)
    assert.match(a.err, /--upstream: is required/)
  })

  it('exits 2 on an unknown command', () => {
    assert.equal(cli('frobnicate').code, 2)
  })
})
