// Only lib/swarm/webtorrent/ may touch webtorrent's private members or import
// its private modules, so an upgrade has one folder to review. The member
// names come from the fence's own table.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { MEMBERS } from '../lib/swarm/webtorrent/internals.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const FENCE = path.join('lib', 'swarm', 'webtorrent') + path.sep
const PRIVATE_IMPORT = /from\s+'(webtorrent\/lib\/[^']*|bittorrent-protocol[^']*)'/

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name)
    if (e.isDirectory()) return sources(rel)
    return e.name.endsWith('.ts') ? [rel] : []
  })
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** How each member of the table would be spelled by code reaching for it. */
const spellings = MEMBERS.flatMap((m) => {
  if (m.spelled === null) return []
  const pattern = m.spelled === undefined ? new RegExp(`\\.${escape(m.name)}\\b`) : new RegExp(escape(m.spelled))
  return [{ member: `${m.owner} ${m.name}`, pattern }]
})

/** Every line of `file` that reaches past the fence, described. */
function breaches(file: string): string[] {
  const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n')
  return lines.flatMap((line, i) => {
    const at = `${file}:${i + 1}`
    const found: string[] = []
    const imported = PRIVATE_IMPORT.exec(line)
    if (imported) found.push(`${at} imports ${imported[1]}`)
    for (const s of spellings) if (s.pattern.test(line)) found.push(`${at} reaches ${s.member}: ${line.trim()}`)
    return found
  })
}

describe('the webtorrent fence', () => {
  const all = ['lib', 'sidecar', 'plugin'].flatMap(sources)
  const outside = all.filter((f) => !f.startsWith(FENCE))

  it('no file outside lib/swarm/webtorrent/ imports webtorrent/lib/* or bittorrent-protocol, or names a private member', () => {
    assert.ok(outside.length > 20, `scanned ${outside.length} files`)
    assert.deepEqual(outside.flatMap(breaches), [])
  })

  it('the scan finds the fence’s own reaches, so it would find others', () => {
    const inside = all.filter((f) => f.startsWith(FENCE)).flatMap(breaches).join('\n')
    for (const needle of ['imports webtorrent/lib/peer.js', 'imports bittorrent-protocol', 'Torrent.prototype _updateWire', 'Peer.prototype setThrottlePipes', 'Torrent _hashes', 'TrackerServer getSwarm']) {
      assert.ok(inside.includes(needle), `expected the scan to see ${needle} inside the fence`)
    }
  })
})
