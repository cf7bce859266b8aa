using Akka.Actor;
using Akka.Hosting;
using Microsoft.Data.Sqlite;
using Miosa.Actors.Common;
using Miosa.Actors.Deployments;
using Miosa.Actors.Fleet;
using Miosa.Actors.Hosting;
using Miosa.Actors.Organizations;
using Miosa.Actors.Previews;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Releases;
using Miosa.Actors.Routing;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.Terminals;
using Miosa.Api.Audit;
using Miosa.Api.Deployments;
using Miosa.Api.Hosting;
using Miosa.Api.Http;
using Miosa.Api.Operator;
using Miosa.Api.Organizations;
using Miosa.Api.Previews;
using Miosa.Api.Projects;
using Miosa.Api.Sandboxes;
using Miosa.Api.ShareTokens;
using Miosa.Api.Snapshots;
using Miosa.Api.Tenancy;
using Miosa.Api.Usage;
using Miosa.Api.Workspaces;
using Miosa.Edge;
using Miosa.HostAgent.Fleet;
using Miosa.HostAgent.Ingress;
using Miosa.HostAgent.Publishing;
using Miosa.HostAgent.Sandboxes;
using Yarp.ReverseProxy.Forwarder;

var options = MiosaNodeOptions.FromEnvironment();
var templates = SandboxTemplates.Load(options.TemplatesFile);
// 0711: sandbox uids pass through to their own workspaces; nobody else lists the data dir.
Directory.CreateDirectory(options.DataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
var clusterSecret = options.ClusterSecret ?? ClusterSecretFile.ReadOrCreate(Path.Combine(options.DataDir, "cluster.secret"));
if (!options.UsesPostgres)
{
    // SQLite has one writer: WAL lets the read journal and read models read while the journal writes.
    await using var connection = new SqliteConnection(options.SqliteConnectionString);
    await connection.OpenAsync();
    await using var pragma = connection.CreateCommand();
    pragma.CommandText = "PRAGMA journal_mode=WAL;";
    await pragma.ExecuteNonQueryAsync();
}

// Host role: the sandbox driver and its data-plane ingress come up before the node joins, so the
// host agent registers with a reachable address.
ISandboxDriver? driver = null;
// Completed once the host role has started or deleted every sandbox it found on disk (gates readiness).
var hostReconciled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
NodeIngressServer? ingress = null;
var activity = new SandboxActivity(TimeProvider.System);
if (!options.HasRole("host")) hostReconciled.SetResult();
else
{
    try
    {
        // Workspaces on the sandbox volume (disk limits, instant forks; HostAgent/Storage), mounted again after a reboot.
        var storage = SandboxStorage.Open(options);
        driver = new JailSandboxDriver(storage.SandboxesDirectory, new JailSandboxOptions { EgressNetworkNamespace = options.EgressNetworkNamespace, Storage = storage });
    }
    catch (Exception e) when (e is InvalidOperationException or FileNotFoundException)
    {
        // A node that cannot run sandboxes says why and stops, instead of a stack trace.
        Console.Error.WriteLine($"miosa: cannot start the host role: {e.Message}");
        Environment.Exit(1);
    }
    ingress = await NodeIngressServer.StartAsync(driver, clusterSecret, "127.0.0.1", options.IngressPort, activity);
}
var previewTokens = new PreviewTokenKeys(clusterSecret, options.PreviewTokenKeyId, options.PreviewTokenAcceptedKeyIds);
// Edge role: the routes it serves, filled from the cluster once the node joins.
var edgeRoutes = options.HasRole("edge") ? new EdgeRoutes() : null;

var builder = WebApplication.CreateBuilder(args);
// Every request is not news: keep the log for what an operator acts on.
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning).AddFilter("Yarp", LogLevel.Warning);
builder.WebHost.UseUrls($"http://127.0.0.1:{options.ApiPort}");
builder.Services.AddSingleton(options);
builder.Services.AddSingleton<ReadModelDatabase>();
builder.Services.AddSingleton<ResourceList>();
builder.Services.AddSingleton<ListProjections>();
builder.Services.AddSingleton<AuditLog>();
builder.Services.AddSingleton<UsageReadModel>();
builder.Services.AddSingleton<OrganizationRegistry>();
builder.Services.AddSingleton<DefaultOrganization>();
builder.Services.AddSingleton(previewTokens);
builder.Services.AddSingleton(templates);
builder.Services.AddSingleton<PreviewUrls>();
// Releases: one content-addressed store under the data dir; builds run on this node's own sandboxes.
var releaseStore = new LocalReleaseStore(Path.Combine(options.DataDir, "releases"));
builder.Services.AddSingleton<IReleaseBuilder>(new WorkspaceReleaseBuilder(options.NodeName,
    id => driver is JailSandboxDriver jail ? jail.WorkspacePath(id) : Path.Combine(options.DataDir, "no-host-role", id),
    Path.Combine(options.DataDir, "deployments"), releaseStore));
builder.Services.AddSingleton(_ => new PreviewDomainCheck(options.DnsResolver));
if (edgeRoutes is not null) builder.Services.AddSingleton(edgeRoutes);
builder.Services.AddHttpForwarder();
builder.Services.AddSingleton(sp => new SandboxDataPlane(sp.GetRequiredService<IHttpForwarder>(), clusterSecret));
// Browser terminals: mt_ tokens (keys of their own, rotated with the preview key ids) and the WebSocket proxy.
builder.Services.AddSingleton(new TerminalTokenKeys(clusterSecret, options.PreviewTokenKeyId, options.PreviewTokenAcceptedKeyIds));
builder.Services.AddSingleton(sp => new SandboxTerminalProxy(sp.GetRequiredService<IHttpForwarder>(), clusterSecret));
builder.Services.AddSingleton(sp => ActivatorUtilities.CreateInstance<NodeStartup>(sp, hostReconciled.Task));
builder.Services.AddHostedService(sp => sp.GetRequiredService<NodeStartup>());
builder.Services.AddProblemDetails();
builder.Services.AddAkka(AkkaConfiguration.SystemName, (akka, _) =>
{
    akka.AddMiosaCluster(options);
    if (options.HasRole(AkkaConfiguration.ControlPlaneRole))
    {
        akka.WithActors((system, _, resolver) =>
            system.ActorOf(RouteTableSource.PropsFor(resolver.GetService<ResourceList>()), RouteTableSource.Name));
    }
    if (edgeRoutes is not null)
        akka.WithActors((system, _) => system.ActorOf(RouteSubscriber.PropsFor(edgeRoutes), "route-subscriber"));
    if (driver is not null)
    {
        akka.WithActors((system, registry) =>
        {
            var identity = new HostIdentity(options.NodeName, options.Region, ingress!.Url, Environment.ProcessorCount,
                GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024));
            var onDisk = SandboxesOnDisk(((JailSandboxDriver)driver).RootDirectory);
            registry.Register<HostAgentActor>(system.ActorOf(
                HostAgentActor.PropsFor(driver, identity, registry.Get<FleetScheduler>(), registry.Get<SandboxActor>(), onDisk,
                    options.UsageInterval, hostReconciled, activity, options.HibernateAfter, templates), "host-agent"));
            // Traffic to a suspended sandbox resumes it through its entity (which honours auto_resume).
            var sandboxes = registry.Get<SandboxActor>();
            activity.Wake = async (id, ct) =>
                await sandboxes.Ask<object>(new ResumeSandbox(id, null, DateTimeOffset.UtcNow, OnTraffic: true), TimeSpan.FromSeconds(60), ct) as Rejection;
        });
    }
});

var app = builder.Build();
app.UseExceptionHandler();
app.MapGet("/healthz", () => Results.Json(new { status = "ok" }));
app.MapGet("/readyz", (NodeStartup startup) => startup.Ready.IsCompletedSuccessfully
    ? Results.Json(new { status = "ready" })
    : Problems.Of(503, "not_ready", "The node has not joined the cluster or its journal is not reachable yet."));
if (options.HasRole(AkkaConfiguration.ControlPlaneRole))
{
    var v1 = app.MapGroup("/v1").RequireOrganizationKey();
    app.MapOrganizationEndpoints(v1, options);
    v1.MapSandboxEndpoints();
    app.MapTerminalEndpoints(v1);
    v1.MapAuditEndpoints();
    app.MapGroup("/admin/v1").RequireAdminToken(options).MapRouteEndpoints();
    v1.MapWorkspaceEndpoints();
    v1.MapProjectEndpoints();
    v1.MapUsageEndpoints();
    v1.MapPreviewEndpoints();
    v1.MapShareTokenEndpoints();
    v1.MapSnapshotEndpoints();
    v1.MapDeploymentEndpoints();
    v1.MapTenantEndpoints(options);
}

await app.StartAsync();
EdgeServer? edge = null;
if (edgeRoutes is not null)
{
    var system = app.Services.GetRequiredService<ActorSystem>();
    var registry = ActorRegistry.For(system);
    var organizations = await registry.GetAsync<OrganizationActor>();
    // What the edge serves of static releases is metered as the deployments' egress.
    var egress = new DeploymentEgress();
    system.ActorOf(DeploymentEgressReporter.PropsFor(egress, await registry.GetAsync<DeploymentActor>(), options.NodeName, options.UsageInterval),
        "deployment-egress");
    edge = await EdgeServer.StartAsync("127.0.0.1", options.EdgePort, edgeRoutes,
        new EdgeSettings(options.BaseDomain, clusterSecret, previewTokens, organizations),
        new ReleaseCache(releaseStore, Path.Combine(options.DataDir, "edge", "releases")), egress);
    app.Services.GetRequiredService<PreviewUrls>().UseEdgePort(new Uri(edge.Url).Port);
}
await app.Services.GetRequiredService<NodeStartup>().Ready;
Console.WriteLine($"miosa: ready api={app.Urls.First()} edge={edge?.Url ?? "none"}");
await app.WaitForShutdownAsync();
if (ingress is not null) await ingress.DisposeAsync();
if (edge is not null) await edge.DisposeAsync();

static IReadOnlyList<string> SandboxesOnDisk(string root) =>
    Directory.Exists(root)
        ? Directory.GetDirectories(root).Select(d => Path.GetFileName(d)).Where(n => ResourceId.IsValid(n, IdPrefix.Sandbox)).ToList()
        : [];
