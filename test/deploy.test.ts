// The files in deploy/ checked against the real option specs and loader: what
// an operator copies must start a process, not stop it with exit code 2.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { loadAgentConfig, loadSidecarConfig } from '../config/index.js'
import { agentOptions, sidecarOptions } from '../config/schema.js'

const DEPLOY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layerseed-deploy-'))
after(() => fs.rmSync(tmp, { recursive: true, force: true }))

type Command = 'sidecar' | 'agent'
const FLAGS: Record<Command, Set<string>> = {
  sidecar: new Set(['config', ...sidecarOptions.map((s) => s.flag)]),
  agent: new Set(['config', ...agentOptions.map((s) => s.flag)]),
}
const load = (command: Command, argv: string[]) => (command === 'sidecar' ? loadSidecarConfig(argv) : loadAgentConfig(argv))
const read = (rel: string) => fs.readFileSync(path.join(DEPLOY, rel), 'utf8')

/** A file with a secret's stand-in, for a path the deploy files name. */
function secretFile(name: string): string {
  const p = path.join(tmp, `secret-${path.basename(name)}`)
  fs.writeFileSync(p, 'a-secret-for-the-test\n')
  return p
}

function unknownFlags(command: Command, argv: readonly string[]): string[] {
  return argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]).filter((f) => !FLAGS[command].has(f))
}

/** The `Key=value` lines of a unit's sections, by key. */
function unitKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (m) keys.set(m[1], [...(keys.get(m[1]) ?? []), m[2]])
  }
  return keys
}

describe('systemd units', () => {
  const units: Array<[Command, string]> = [['sidecar', 'systemd/layerseed-sidecar.service'], ['agent', 'systemd/layerseed-agent.service']]
  const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0

  it('pass systemd-analyze verify', { skip: hasAnalyze ? false : 'systemd-analyze is not installed (apt-get install systemd); the units were not verified' }, () => {
    for (const [, unit] of units) {
      const r = spawnSync('systemd-analyze', ['verify', path.join(DEPLOY, unit)], { encoding: 'utf8', timeout: 30_000 })
      assert.equal(r.status, 0, `${unit}: ${r.stderr}`)
      assert.equal(r.stderr.trim(), '', `${unit} draws no warning`)
    }
  })

  it('run node on the installed CLI with the example config, as a dedicated user, hardened, restarted on failure', () => {
    for (const [command, unit] of units) {
      const keys = unitKeys(read(unit))
      const exec = keys.get('ExecStart')?.[0] ?? ''
      const [node, bin, cmd, ...argv] = exec.split(/\s+/)
      assert.equal(node, '/usr/bin/node', `${unit} runs node itself`)
      assert.equal(bin, '/usr/local/lib/node_modules/layerseed/bin/layerseed.js', `${unit} runs the installed CLI`)
      assert.equal(cmd, command)
      assert.ok(!/\bnpx\b|\bnpm\b/.test(exec), `${unit}: no npx or npm in ExecStart`)
      assert.deepEqual(argv.slice(0, 2), ['--config', `/etc/layerseed/${command}.yaml`])
      assert.deepEqual(unknownFlags(command, argv), [], `${unit} passes only known flags`)
      for (const flag of argv.filter((a) => /^--.*-(token|password|secret)$/.test(a))) assert.fail(`${unit} passes the secret ${flag} on the command line; use its -file form`)
      assert.deepEqual(keys.get('Restart'), ['on-failure'])
      assert.deepEqual(keys.get('User'), ['layerseed'])
      assert.deepEqual(keys.get('ProtectSystem'), ['strict'])
      assert.deepEqual(keys.get('StateDirectory'), [`layerseed/${command}`])
      assert.deepEqual(keys.get('ReadWritePaths'), [`/var/lib/layerseed/${command}`])
    }
  })

  it('with the example configs load, and write only where the unit lets them', () => {
    for (const [command, unit] of units) {
      const exec = unitKeys(read(unit)).get('ExecStart')?.[0] ?? ''
      const argv = exec.split(/\s+/).slice(3).map((a) => (a === `/etc/layerseed/${command}.yaml` ? path.join(DEPLOY, `${command}.yaml`) : a.startsWith('/etc/layerseed/') ? secretFile(a) : a))
      const { config } = load(command, argv)
      assert.ok(config, `${unit} with deploy/${command}.yaml loads`)
      assert.deepEqual([config.dataDir], unitKeys(read(unit)).get('ReadWritePaths'), `${command}.yaml's data-dir is the unit's ReadWritePaths`)
    }
  })
})

interface Container {
  readonly name: string
  readonly command?: string[]
  readonly args?: string[]
  readonly env?: Array<{ name: string }>
  readonly volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>
}
interface Volume {
  readonly name: string
  readonly configMap?: { name: string }
  readonly secret?: { secretName: string }
  readonly hostPath?: { path: string }
  readonly persistentVolumeClaim?: { claimName: string }
}
interface Manifest {
  readonly kind: string
  readonly metadata: { name: string }
  readonly data?: Record<string, string>
  readonly stringData?: Record<string, string>
  readonly spec?: { template?: { spec: { hostNetwork?: boolean; containers: Container[]; volumes?: Volume[] } } }
}

function manifests(file: string): Manifest[] {
  return parseAllDocuments(read(file)).map((d) => {
    assert.deepEqual(d.errors, [], `${file} parses`)
    return d.toJS() as Manifest
  })
}

/**
 * Lays out a pod's ConfigMap and Secret volumes in a temp dir and rewrites
 * the container's arguments to point there, with $(VAR) as Kubernetes would
 * expand it: what the process would read in the pod.
 */
function podArgs(all: Manifest[], volumes: readonly Volume[], c: Container): string[] {
  const mounts = new Map<string, string>()
  for (const m of c.volumeMounts ?? []) {
    assert.equal(m.subPath, undefined, `${c.name}: ${m.mountPath} is a whole directory, so edits reach the watched file`)
    const v = volumes.find((x) => x.name === m.name)
    assert.ok(v, `${c.name} mounts a volume the pod has: ${m.name}`)
    const source = v.configMap ? all.find((x) => x.kind === 'ConfigMap' && x.metadata.name === v.configMap?.name)?.data
      : v.secret ? all.find((x) => x.kind === 'Secret' && x.metadata.name === v.secret?.secretName)?.stringData
        : undefined
    if (!v.configMap && !v.secret) continue
    assert.ok(source, `${c.name}: the ${m.name} volume's object is in the same file`)
    const dir = fs.mkdtempSync(path.join(tmp, `${m.name}-`))
    for (const [k, text] of Object.entries(source)) fs.writeFileSync(path.join(dir, k), text)
    mounts.set(m.mountPath, dir)
  }
  const env = new Set((c.env ?? []).map((e) => e.name))
  return (c.args ?? []).slice(1).map((a) => {
    const v = /^\$\(([A-Z_]+)\)$/.exec(a)
    if (v) {
      assert.ok(env.has(v[1]), `${c.name}: $(${v[1]}) is set in env`)
      return '10.0.0.5'
    }
    for (const [mountPath, dir] of mounts) if (a.startsWith(`${mountPath}/`)) return path.join(dir, a.slice(mountPath.length + 1))
    return a
  })
}

describe('Kubernetes manifests', () => {
  const files: Array<[Command, string, string]> = [['sidecar', 'kubernetes/sidecar.yaml', 'Deployment'], ['agent', 'kubernetes/agent.yaml', 'DaemonSet']]

  it('pass only known flags, and their ConfigMaps only known keys', () => {
    for (const [command, file] of files) {
      const all = manifests(file)
      for (const w of all.filter((m) => m.spec?.template)) {
        for (const c of w.spec?.template?.spec.containers ?? []) {
          assert.equal(c.args?.[0], command, `${file}: ${c.name} runs ${command}`)
          assert.deepEqual(unknownFlags(command, c.args ?? []), [], `${file}: ${c.name} passes only known flags`)
        }
      }
      for (const cm of all.filter((m) => m.kind === 'ConfigMap')) {
        for (const [key, text] of Object.entries(cm.data ?? {})) {
          const doc = parseYaml(text) as Record<string, unknown>
          const unknown = Object.keys(doc).filter((k) => !FLAGS[command].has(k) || k === 'config')
          assert.deepEqual(unknown, [], `${file}: ConfigMap ${cm.metadata.name} ${key} holds only ${command} keys`)
        }
      }
    }
  })

  it('start a process whose configuration loads, with secrets as mounted files', () => {
    for (const [command, file, kind] of files) {
      const all = manifests(file)
      const workload = all.find((m) => m.kind === kind)
      const pod = workload?.spec?.template?.spec
      assert.ok(pod, `${file} has a ${kind}`)
      const c = pod.containers[0]
      const { config } = load(command, podArgs(all, pod.volumes ?? [], c))
      assert.ok(config, `${file}: the ${command}'s configuration loads`)
      const dataMount = c.volumeMounts?.find((m) => m.mountPath === config.dataDir)
      assert.ok(dataMount, `${file}: the data dir ${config.dataDir} is a volume`)
      const data = pod.volumes?.find((v) => v.name === dataMount.name)
      if (command === 'agent') {
        assert.equal(pod.hostNetwork, true, 'the agent uses the node\'s network, so the runtime reaches it on loopback')
        assert.ok(data?.hostPath, 'the agent\'s cache is on the node')
      } else {
        assert.ok(data?.persistentVolumeClaim && all.some((m) => m.kind === 'PersistentVolumeClaim' && m.metadata.name === data.persistentVolumeClaim?.claimName), 'the sidecar\'s store is a claim in the file')
        assert.ok(all.some((m) => m.kind === 'Service'), 'the sidecar has a Service')
        assert.ok('webhookToken' in config && config.webhookToken, 'the webhook token comes from the Secret')
      }
    }
  })
})

describe('Containerfile', () => {
  it('installs the packed tarball on node:20-slim and runs as a user, node as the entry point', () => {
    const text = read('Containerfile')
    assert.match(text, /^FROM node:20-slim$/m)
    assert.match(text, /npm install -g .*layerseed\.tgz/)
    assert.match(text, /^USER 10001:10001$/m)
    assert.match(text, /^ENTRYPOINT \["node", "\/usr\/local\/lib\/node_modules\/layerseed\/bin\/layerseed\.js"\]$/m)
  })
})
