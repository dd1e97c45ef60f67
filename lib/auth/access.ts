/**
 * Whether a token's `access` claim grants pull on a repository: an entry of
 * type `repository` with exactly that name whose actions hold `pull` or `*`.
 */
export function grantsPull(access: unknown, repo: string): boolean {
  if (!Array.isArray(access)) return false
  return access.some((a: unknown) => {
    if (typeof a !== 'object' || a === null) return false
    const { type, name, actions } = a as Record<string, unknown>
    return type === 'repository' && name === repo && Array.isArray(actions) && (actions.includes('pull') || actions.includes('*'))
  })
}
