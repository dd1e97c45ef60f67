import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { flagOf, helpText, loadAgentConfig, loadSidecarConfig } from '../config/index.js'
import { problemsOf } from './helpers/configs.js'
import { agentOptions, sidecarOptions } from '../config/schema.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layerseed-config-'))
after(() => fs.rmSync(tmp, { recursive: true, force: true }))

function yamlFile(name: string, text: string): string {
  const p = path.join(tmp, name)
  fs.writeFileSync(p, text)
  return p
}

describe('sidecar config', () => {
  it('applies defaults and reads flags in both forms', () => {
    const { config } = loadSidecarConfig(['--origin', 'http://registry:5000/', '--webhook-token=s3cret', '--peer-port', '0'])
    assert.ok(config)
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 7070 })
    assert.equal(config.origin, 'http://registry:5000')
    assert.equal(config.webhookToken, 's3cret')
    assert.equal(config.peerPort, 0)
    assert.equal(config.dataDir, '/var/lib/layerseed/sidecar')
    assert.equal(config.fetchConcurrency, 4)
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.listen))
  })

  it('reads a YAML file, and flags override it', () => {
    const file = yamlFile('s.yaml', 'origin: http://reg:5000\nlisten: 127.0.0.1:9000\ndata-dir: ./data\nqueue-max: 5\n')
    const { config } = loadSidecarConfig(['--config', file, '--listen', '127.0.0.1:9001'])
    assert.equal(config?.origin, 'http://reg:5000')
    assert.deepEqual(config?.listen, { host: '127.0.0.1', port: 9001 })
    assert.equal(config?.dataDir, path.resolve('./data'))
    assert.equal(config?.queueMax, 5)
  })

  it('reports every problem at once, each naming its key', () => {
    const file = yamlFile('bad.yaml', 'bogus-key: 1\npeer-port: 70000\n')
    const problems = problemsOf(() => loadSidecarConfig(['--config', file, '--listen', 'nope', '--nonsense', 'x', '--origin', 'ftp://x']))
    const keys = problems.map((p) => p.key).sort()
    assert.deepEqual(keys, ['--listen', '--nonsense', '--origin', 'bogus-key', 'peer-port'])
  })

  it('requires --origin and refuses URLs with credentials, queries or other schemes', () => {
    assert.deepEqual(problemsOf(() => loadSidecarConfig([])).map((p) => p.key), ['--origin'])
    for (const bad of ['ftp://x', 'http://u:p@x', 'http://x/?q=1', 'http://x/#f', 'not a url']) {
      assert.deepEqual(problemsOf(() => loadSidecarConfig(['--origin', bad])).map((p) => p.key), ['--origin'], bad)
    }
  })

  it('refuses a single-valued flag given twice and a bad YAML file', () => {
    assert.match(problemsOf(() => loadSidecarConfig(['--origin', 'http://a', '--origin', 'http://b']))[0].message, /more than once/)
    assert.equal(problemsOf(() => loadSidecarConfig(['--origin', 'http://a', '--config', path.join(tmp, 'missing.yaml')]))[0].key, '--config')
  })

  it('answers --help without validating', () => {
    assert.deepEqual(loadSidecarConfig(['--help', '--bogus']), { help: true })
  })
})

describe('agent config', () => {
  it('takes repeatable sidecars and upstreams, and durations', () => {
    const { config } = loadAgentConfig(['--sidecar', 'http://s1:7070', '--sidecar', 'http://s2:7070', '--upstream', 'http://reg:5000', '--p2p-stall-timeout', '2.5s'])
    assert.deepEqual(config?.sidecars, ['http://s1:7070', 'http://s2:7070'])
    assert.deepEqual(config?.upstreams, ['http://reg:5000'])
    assert.equal(config?.p2pStallTimeoutMs, 2500)
    assert.deepEqual(config?.listen, { host: '127.0.0.1', port: 65001 })
    assert.equal(config?.p2pStallTimeoutMs, 2500)
    assert.ok(Object.isFrozen(config?.sidecars))
  })

  it('reads lists from YAML and reports missing required options', () => {
    const file = yamlFile('a.yaml', 'sidecar: [http://s1:7070, http://s2:7070]\nupstream: http://reg:5000\np2p-stall-timeout: 1500\n')
    const { config } = loadAgentConfig(['--config', file])
    assert.equal(config?.sidecars.length, 2)
    assert.equal(config?.p2pStallTimeoutMs, 1500)
    assert.deepEqual(problemsOf(() => loadAgentConfig([])).map((p) => p.key).sort(), ['--sidecar', '--upstream'])
    assert.equal(problemsOf(() => loadAgentConfig(['--sidecar', 'http://s', '--upstream', 'http://u', '--p2p-stall-timeout', 'soon']))[0].key, '--p2p-stall-timeout')
  })
})

describe('help', () => {
  it('lists every option with its default', () => {
    for (const [cmd, specs] of [['sidecar', sidecarOptions], ['agent', agentOptions]] as const) {
      const text = helpText(cmd)
      for (const s of specs) {
        assert.ok(text.includes(`--${s.flag}`), `${cmd} help lists --${s.flag}`)
        if (s.default !== undefined) assert.ok(text.includes(`(default: ${s.default})`), `${cmd} help shows the default of --${s.flag}`)
      }
    }
  })
})

// The types hold each table to its config type; these are the rules between
// specs that only show when the options are read.
describe('option specs', () => {
  const processes = [
    ['sidecar', sidecarOptions, () => loadSidecarConfig(['--origin', 'http://reg:5000'])],
    ['agent', agentOptions, () => loadAgentConfig(['--sidecar', 'http://s:7070', '--upstream', 'http://reg:5000'])],
  ] as const

  it('give each option a flag of its own that the command line can reach', () => {
    for (const [cmd, specs] of processes) {
      const flags = specs.map((s) => s.flag)
      assert.deepEqual(flags.filter((f, i) => flags.indexOf(f) !== i), [], `${cmd} flags are unique`)
      for (const f of flags) {
        assert.match(f, /^[a-z0-9-]+$/, `${cmd} --${f} is a flag readArgv accepts`)
        assert.ok(!['config', 'help'].includes(f), `${cmd} --${f} is not taken by the loader itself`)
      }
    }
  })

  it('parse every default, and a process started bare gets it', () => {
    for (const [cmd, specs, loadBare] of processes) {
      const config: Record<string, unknown> = { ...loadBare().config }
      for (const s of specs) {
        assert.ok(!(s.required && s.default !== undefined), `${cmd} --${s.flag} is required or has a default, not both`)
        if (s.default === undefined) continue
        assert.doesNotThrow(() => s.parse(s.default), `${cmd} --${s.flag} parses its default`)
        assert.deepEqual(config[String(s.field)], s.parse(s.default), `${cmd} --${s.flag} defaults to ${s.default}`)
      }
    }
  })

  it('keep the options of one field together, the flag first', () => {
    for (const [cmd, specs] of processes) {
      const fields = specs.map((s) => s.field)
      for (const [i, f] of fields.entries()) {
        if (fields.indexOf(f) === i) continue
        assert.equal(fields[i - 1], f, `${cmd}: the options of ${String(f)} are next to each other`)
        assert.equal(specs[i].flag, `${specs[fields.indexOf(f)].flag}-file`, `${cmd}: the second option of ${String(f)} is the --…-file form`)
      }
    }
  })

  // flagOf names a field for log lines of either process, so a field both have must go by one flag.
  it('give a field both processes have the same flag in each, the one flagOf names', () => {
    for (const [, specs] of processes) for (const s of specs) assert.equal(flagOf(s.field), specs.find((o) => o.field === s.field)?.flag, String(s.field))
    assert.equal(flagOf('originPassword'), 'origin-password')
    assert.equal(flagOf(String('not a field')), 'not a field')
  })
})

describe('docs', () => {
  it('docs/configuration.md documents every option', async () => {
    const { readFileSync } = await import('node:fs')
    const { fileURLToPath } = await import('node:url')
    const doc = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/configuration.md'), 'utf8')
    for (const s of [...sidecarOptions, ...agentOptions]) assert.ok(doc.includes(`\`--${s.flag} `), `--${s.flag} is documented`)
  })
})
