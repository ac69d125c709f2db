// An asset's health as the catalogue and the lineage graph show it: one colour per health.
import type { AssetHealth } from "../api";

export const HEALTH_COLORS: Record<AssetHealth, string> = {
  healthy: "#2e9e5b",
  warning: "#d4a017",
  failing: "#d6453d",
  unknown: "#bbbbc4",
};

export function healthColor(health: string | null | undefined): string {
  return HEALTH_COLORS[(health ?? "unknown") as AssetHealth] ?? HEALTH_COLORS.unknown;
}

export function HealthBadge(props: { health: AssetHealth }) {
  return (
    <span className="badge" data-health={props.health} style={{ background: healthColor(props.health) }}>
      {props.health}
    </span>
  );
}
