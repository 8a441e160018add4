import { db } from "./config.js";

type Headers = Record<string, string>;

const token: string = "{{FAKE:github_pat#1}}";

export function githubHeaders(): Headers {
  return { Authorization: `Bearer ${token}`, Accept: "application/vnd.github+json" };
}

export function dbUser(): string {
  return `${db.user}@${db.host}`;
}
