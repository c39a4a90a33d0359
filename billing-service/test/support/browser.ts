/**
 * Debian's chromium driven by playwright-core (no browser download): headless, no sandbox (CI runs
 * as root), nothing reaching out to the network. Plus an axe-core scan from the npm package file.
 */
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 120_000,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: number;
}

/** Runs axe-core (WCAG 2.x A/AA rules) on the page; the page's context needs bypassCSP to inject it. */
export const axeViolations = async (page: Page): Promise<AxeViolation[]> => {
  await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
  // A string, evaluated in the page (the service's tsconfig has no DOM types).
  return page.evaluate<AxeViolation[]>(`
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } })
      .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length })))`);
};
