using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using Miosa.Actors.Hosting;
using Miosa.Actors.Organizations;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Slugs;
using Miosa.Api.Organizations;
using Miosa.Edge;

namespace Miosa.Api.Hosting;

/// <summary>
/// What must happen once the node joined the cluster, in order: read models (after the journal has
/// created its tables), then the default organization, then the host's sandboxes found on disk.
/// <see cref="Ready"/> gates /readyz and the ready line.
/// </summary>
public sealed class NodeStartup(
    Task hostReconciled,
    MiosaNodeOptions options,
    ListProjections lists,
    IServiceProvider services,
    ILogger<NodeStartup> log) : IHostedService
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Ready => _ready.Task;

    public Task StartAsync(CancellationToken ct)
    {
        _ = Task.Run(() => RunAsync(CancellationToken.None), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task RunAsync(CancellationToken ct)
    {
        try
        {
            var system = services.GetRequiredService<ActorSystem>();
            var up = new TaskCompletionSource();
            Cluster.Get(system).RegisterOnMemberUp(() => up.TrySetResult());
            await up.Task.WaitAsync(TimeSpan.FromMinutes(2), ct);
            if (options.HasRole(AkkaConfiguration.ControlPlaneRole))
            {
                // Shard regions are registered while the node joins, possibly after it is up: wait for
                // the ones used here rather than fail start-up on a busy machine.
                var registry = ActorRegistry.For(system);
                await registry.GetAsync<OrganizationActor>(ct);
                await registry.GetAsync<SlugRegistryActor>(ct);
                // The journal creates its tables on first use: touch one entity before reading it.
                await services.GetRequiredService<OrganizationRegistry>().OwnerOfSlugAsync(DefaultOrganization.Slug, ct);
                await lists.StartAsync(system, ct);
                await services.GetRequiredService<AuditLog>().StartAsync(system, ct);
                await services.GetRequiredService<UsageReadModel>().StartAsync(system, ct);
                await services.GetRequiredService<DefaultOrganization>().EnsureAsync(ct);
            }
            // Sandboxes that ran before a restart answer again before the node says it is ready.
            await hostReconciled.WaitAsync(TimeSpan.FromMinutes(2), ct);
            // An edge serves only once it holds the full route table, not just later changes.
            if (services.GetService<EdgeRoutes>() is { } routes) await routes.Loaded.WaitAsync(TimeSpan.FromMinutes(2), ct);
            _ready.TrySetResult();
        }
        catch (Exception e)
        {
            log.LogCritical(e, "Node start-up failed");
            _ready.TrySetException(e);
        }
    }

    public Task StopAsync(CancellationToken ct)
    {
        lists.Stop();
        services.GetService<AuditLog>()?.Stop();
        services.GetService<UsageReadModel>()?.Stop();
        return Task.CompletedTask;
    }
}
