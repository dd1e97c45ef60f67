export { ConfigError, helpText, loadAgentConfig, loadSidecarConfig, type Problem } from './load.js'
export { parseHostPort, type AgentConfig, type HostPort, type LogLevel, type SidecarConfig } from './schema.js'
export { parseBytes, parseDuration } from './units.js'
