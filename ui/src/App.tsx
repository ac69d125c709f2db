// The shell: navigation, the API-key prompt, and the route table.
import { useEffect, useState } from "react";
import { onUnauthorized } from "./api";
import { Login } from "./components/Login";
import { ArtifactKeyPage, ArtifactsPage } from "./pages/Artifacts";
import { AssetPage } from "./pages/Asset";
import { AssetsPage } from "./pages/Assets";
import { BlockCreatePage, BlockDocumentPage, BlocksPage } from "./pages/Blocks";
import { AutomationCreatePage, AutomationEditPage, AutomationPage } from "./pages/Automation";
import { AutomationsPage } from "./pages/Automations";
import { ConcurrencyPage } from "./pages/Concurrency";
import { DashboardPage } from "./pages/Dashboard";
import { DeploymentPage, DeploymentsPage } from "./pages/Deployments";
import { EventDetailPage } from "./pages/Event";
import { EventsPage } from "./pages/Events";
import { FlowRunPage } from "./pages/FlowRun";
import { FlowsPage } from "./pages/Flows";
import { RunsPage } from "./pages/Runs";
import { VariablesPage } from "./pages/Variables";
import { WorkPoolsPage } from "./pages/WorkPools";
import { Link, useLocation } from "./router";

const NAV: [string, string][] = [
  ["/", "Dashboard"], ["/runs", "Runs"], ["/flows", "Flows"], ["/deployments", "Deployments"],
  ["/work-pools", "Work pools"], ["/concurrency", "Concurrency"], ["/blocks", "Blocks"],
  ["/variables", "Variables"], ["/artifacts", "Artifacts"], ["/assets", "Assets"], ["/events", "Events"],
  ["/automations", "Automations"],
];

function route(path: string, query: URLSearchParams) {
  const run = path.match(/^\/runs\/([0-9a-f-]{36})\/?$/);
  if (run) return <FlowRunPage key={run[1]} id={run[1]} />;
  const deployment = path.match(/^\/deployments\/([0-9a-f-]{36})\/?$/);
  if (deployment) return <DeploymentPage key={deployment[1]} id={deployment[1]} />;
  const event = path.match(/^\/events\/([0-9a-f-]{36})\/?$/);
  if (event) return <EventDetailPage key={event[1]} id={event[1]} />;
  const automation = path.match(/^\/automations\/([0-9a-f-]{36})(\/edit)?\/?$/);
  if (automation) {
    return automation[2] ? <AutomationEditPage key={`${automation[1]}-edit`} id={automation[1]} />
      : <AutomationPage key={automation[1]} id={automation[1]} />;
  }
  const block = path.match(/^\/blocks\/document\/([0-9a-f-]{36})(\/edit)?\/?$/);
  if (block) return <BlockDocumentPage key={block[1]} id={block[1]} editing={Boolean(block[2])} />;
  const artifactKey = path.match(/^\/artifacts\/key\/([^/]+)\/?$/);
  if (artifactKey) {
    const key = decodeURIComponent(artifactKey[1]);
    return <ArtifactKeyPage key={key} artifactKey={key} />;
  }
  const newBlock = path.match(/^\/blocks\/new\/([^/]+)\/?$/);
  if (newBlock) {
    const slug = decodeURIComponent(newBlock[1]);
    return <BlockCreatePage key={slug} slug={slug} />;
  }
  switch (path.replace(/\/$/, "") || "/") {
    case "/": return <DashboardPage />;
    case "/runs": return <RunsPage />;
    case "/flows": return <FlowsPage />;
    case "/deployments": return <DeploymentsPage />;
    case "/work-pools": return <WorkPoolsPage />;
    case "/concurrency": return <ConcurrencyPage />;
    case "/blocks": return <BlocksPage />;
    case "/variables": return <VariablesPage />;
    case "/artifacts": return <ArtifactsPage />;
    case "/assets": {
      // an asset's page: /assets?key=<key> (see assetPath in urls.ts)
      const key = query.get("key");
      return key ? <AssetPage key={key} assetKey={key} /> : <AssetsPage />;
    }
    case "/events": return <EventsPage />;
    case "/automations": return <AutomationsPage />;
    case "/automations/new": return <AutomationCreatePage />;
    default: return <div className="page"><h1>Not found</h1><p>No page at {path}.</p></div>;
  }
}

export function App() {
  const { path, query } = useLocation();
  const [needsKey, setNeedsKey] = useState(false);
  const [generation, setGeneration] = useState(0);
  useEffect(() => onUnauthorized(() => setNeedsKey(true)), []);
  if (needsKey) {
    return <Login onDone={() => { setNeedsKey(false); setGeneration((g) => g + 1); }} />;
  }
  const section = "/" + (path.split("/")[1] ?? "");
  return (
    <div className="app">
      <nav className="sidebar">
        <div className="brand">VibePiper</div>
        {NAV.map(([to, label]) => (
          <Link key={to} to={to} className={section === to ? "active" : undefined}>{label}</Link>
        ))}
        <a href="/api/docs" className="api-link">API docs</a>
      </nav>
      <main key={generation}>{route(path, query)}</main>
    </div>
  );
}
