/** The label for repositories past the cap. */
export const OTHER_REPO = 'other'

/** Distinct repositories a per-repo metric names before the rest count as `other`. */
export const REPO_LABEL_CAP = 100

/**
 * Repository label values, bounded: every label value is a time series in
 * Prometheus, and a registry may hold thousands of repositories. The first
 * `cap` seen keep their name for the life of the process.
 */
export class RepoLabels {
  private readonly named = new Set<string>()

  constructor(private readonly cap = REPO_LABEL_CAP) {}

  of(repo: string): string {
    if (this.named.has(repo)) return repo
    if (this.named.size >= this.cap || repo === OTHER_REPO) return OTHER_REPO
    this.named.add(repo)
    return repo
  }
}
