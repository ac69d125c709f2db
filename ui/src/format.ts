// Times, durations and state colours shown everywhere.
import type { StateType } from "./api";

export const STATE_COLORS: Record<string, string> = {
  SCHEDULED: "#d4a017",
  PENDING: "#8e8e9a",
  RUNNING: "#2f7de1",
  COMPLETED: "#2e9e5b",
  FAILED: "#d6453d",
  CANCELLED: "#6b6b78",
  CRASHED: "#e0742a",
  PAUSED: "#8a6fd1",
  CANCELLING: "#4a4a57",
  NONE: "#bbbbc4",
};

export function stateColor(type: StateType | string | null | undefined): string {
  return STATE_COLORS[type ?? "NONE"] ?? STATE_COLORS.NONE;
}

export function formatTime(value: string | null | undefined): string {
  if (!value) return "—";
  const date = new Date(value);
  return date.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${Math.round(seconds % 60)}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

/** Seconds from start to end (to now while the run is going). */
export function durationOf(
  start: string | null, end: string | null, running = false,
): number | null {
  if (!start) return null;
  const finish = end ? Date.parse(end) : running ? Date.now() : null;
  return finish === null ? null : (finish - Date.parse(start)) / 1000;
}

export function relative(value: string | null | undefined): string {
  if (!value) return "never";
  const seconds = (Date.now() - Date.parse(value)) / 1000;
  const ahead = seconds < 0;
  const s = Math.abs(seconds);
  const text = s < 60 ? `${Math.round(s)}s` : s < 3600 ? `${Math.round(s / 60)}m`
    : s < 86400 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;
  return ahead ? `in ${text}` : `${text} ago`;
}

export const LEVEL_NAMES: Record<number, string> = {
  10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL",
};

/** A size in bytes as people read it: "812 B", "14.2 kB", "3.1 MB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "—";
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
