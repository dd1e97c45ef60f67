// `layerseed configure` as an operator runs it: the real CLI writing into a
// temp root, what it wrote read back, and every bad argument refused.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layerseed-configure-'))
after(() => fs.rmSync(tmp, { recursive: true, force: true }))

let roots = 0
const newRoot = () => fs.mkdtempSync(path.join(tmp, `root-${roots++}-`))

function configure(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'configure', ...args], { encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

/** Every file under dir, relative to it. */
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort()
}

describe('layerseed configure', () => {
  it('writes containerd\'s hosts.toml naming the agent with pull and resolve', () => {
    const root = newRoot()
    const r = configure('containerd', '--registry', 'registry.example.com:5000', '--agent', 'http://127.0.0.1:65001', '--root', root)
    assert.equal(r.code, 0, r.err)
    const file = path.join(root, 'etc/containerd/certs.d/registry.example.com:5000/hosts.toml')
    assert.match(r.out, new RegExp(`wrote ${file.replace(/[.]/g, '\\.')}`))
    assert.equal(fs.readFileSync(file, 'utf8'), [
      'server = "https://registry.example.com:5000"',
      '',
      '[host."http://127.0.0.1:65001"]',
      '  capabilities = ["pull", "resolve"]',
      '',
    ].join('\n'))
    assert.deepEqual(filesUnder(root), ['etc/containerd/certs.d/registry.example.com:5000/hosts.toml'])
  })

  it('writes a registries.conf.d drop-in with the agent as a path-prefixed mirror', () => {
    const root = newRoot()
    const r = configure('podman', '--registry', 'http://reg.local:5000', '--agent', 'http://127.0.0.1:65001/', '--root', root)
    assert.equal(r.code, 0, r.err)
    const text = fs.readFileSync(path.join(root, 'etc/containers/registries.conf.d/layerseed-reg.local_5000.conf'), 'utf8')
    assert.match(text, /\[\[registry\]\]\nprefix = "reg\.local:5000"\nlocation = "reg\.local:5000"\ninsecure = true\n/)
    assert.match(text, /\[\[registry\.mirror\]\]\nlocation = "127\.0\.0\.1:65001\/reg\.local_5000"\ninsecure = true\n/)
  })

  it('merges into docker\'s daemon.json, keeps the other keys and a backup, and says docker mirrors Docker Hub only', () => {
    const root = newRoot()
    const file = path.join(root, 'etc/docker/daemon.json')
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const before = JSON.stringify({ 'log-driver': 'journald', 'registry-mirrors': ['https://mirror.example.com'], 'insecure-registries': ['reg.local:5000'] })
    fs.writeFileSync(file, before)
    const r = configure('docker', '--registry', 'docker.io', '--agent', 'http://127.0.0.1:65001', '--root', root)
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, /Docker Hub/)
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), {
      'log-driver': 'journald',
      'registry-mirrors': ['https://mirror.example.com', 'http://127.0.0.1:65001'],
      'insecure-registries': ['reg.local:5000'],
    })
    const backups = fs.readdirSync(path.dirname(file)).filter((n) => n.startsWith('daemon.json.bak-'))
    assert.equal(backups.length, 1)
    assert.equal(fs.readFileSync(path.join(path.dirname(file), backups[0]), 'utf8'), before)
    assert.match(r.out, new RegExp(`kept the old file as .*${backups[0]}`))

    // A second run changes nothing: no duplicate mirror, no second backup.
    const again = configure('docker', '--registry', 'docker.io', '--agent', 'http://127.0.0.1:65001', '--root', root)
    assert.equal(again.code, 0, again.err)
    assert.match(again.out, /unchanged/)
    assert.equal(fs.readdirSync(path.dirname(file)).length, 2)
    assert.match(configure('docker', '--registry', 'reg.local:5000', '--agent', 'http://127.0.0.1:65001', '--root', root).out, /do not go through it/)
  })

  it('leaves a daemon.json that is not JSON alone', () => {
    const root = newRoot()
    const file = path.join(root, 'etc/docker/daemon.json')
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, '{ not json')
    const r = configure('docker', '--registry', 'docker.io', '--agent', 'http://127.0.0.1:65001', '--root', root)
    assert.equal(r.code, 1)
    assert.match(r.err, /not JSON/)
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['daemon.json'])
    assert.equal(fs.readFileSync(file, 'utf8'), '{ not json')
  })

  it('exits 2 naming the bad argument, and writes nothing', () => {
    const root = newRoot()
    const agent = ['--agent', 'http://127.0.0.1:65001', '--root', root]
    const cases: Array<[string[], RegExp]> = [
      [['rkt', '--registry', 'r.example.com', ...agent], /runtime: want one of containerd, podman, docker/],
      [['containerd', ...agent], /--registry: is required/],
      [['containerd', '--registry', 'r.example.com', '--root', root], /--agent: is required/],
      [['containerd', '--registry', 'bad host', ...agent], /--registry: want HOST\[:PORT\]/],
      [['containerd', '--registry', '../../etc', ...agent], /--registry: want HOST\[:PORT\]/],
      [['containerd', '--registry', 'r.example.com/library', ...agent], /--registry: want HOST\[:PORT\]/],
      [['containerd', '--registry', 'r.example.com:70000', ...agent], /--registry: port 70000/],
      [['podman', '--registry', 'r.example.com', '--agent', 'ftp://x:1', '--root', root], /--agent: want an http or https URL/],
      [['podman', '--registry', 'r.example.com', '--agent', 'http://127.0.0.1:65001/v2', '--root', root], /--agent: want just scheme, host and port/],
      [['podman', '--registry', 'r.example.com', '--agent', 'not a url', '--root', root], /--agent: want the agent's URL/],
      [['podman', '--registry', 'r.example.com', ...agent, '--force'], /--force: unknown argument/],
      [['podman', '--registry', 'a.example.com', '--registry', 'b.example.com', ...agent], /--registry: given more than once/],
    ]
    for (const [args, want] of cases) {
      const r = configure(...args)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`)
      assert.match(r.err, want, args.join(' '))
    }
    assert.deepEqual(filesUnder(root), [])
  })

  it('never writes outside --root, even through a symlink', () => {
    const root = newRoot()
    const outside = fs.mkdtempSync(path.join(tmp, 'outside-'))
    fs.symlinkSync(outside, path.join(root, 'etc'))
    const r = configure('containerd', '--registry', 'r.example.com', '--agent', 'http://127.0.0.1:65001', '--root', root)
    assert.equal(r.code, 1)
    assert.match(r.err, /outside --root/)
    assert.deepEqual(fs.readdirSync(outside), [])
  })
})
