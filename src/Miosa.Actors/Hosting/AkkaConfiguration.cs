using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Hosting;
using Akka.Persistence.Hosting;
using Akka.Persistence.Sql.Hosting;
using Akka.Remote.Hosting;
using LinqToDB;
using Miosa.Actors.Common;
using Miosa.Actors.Deployments;
using Miosa.Actors.Fleet;
using Miosa.Actors.Organizations;
using Miosa.Actors.Projects;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.ShareTokens;
using Miosa.Actors.Slugs;
using Miosa.Actors.Snapshots;
using Miosa.Actors.Workspaces;

namespace Miosa.Actors.Hosting;

/// <summary>The cluster every role shares: remoting, clustering, persistence, pub/sub, the entities.</summary>
public static class AkkaConfiguration
{
    public const string SystemName = "miosa";
    public const string ControlPlaneRole = "api";

    public static AkkaConfigurationBuilder AddMiosaCluster(this AkkaConfigurationBuilder builder, MiosaNodeOptions options)
    {
        var seeds = options.Seeds.Count > 0 ? options.Seeds : [$"akka.tcp://{SystemName}@{options.AkkaHost}:{options.AkkaPort}"];
        builder
            .AddHoconFile(Path.Combine(AppContext.BaseDirectory, "cluster.hocon"), HoconAddMode.Append)
            .WithRemoting(options.AkkaHost, options.AkkaPort)
            .WithClustering(new ClusterOptions { Roles = options.Roles.ToArray(), SeedNodes = seeds.ToArray() })
            .WithSqlPersistence(
                options.UsesPostgres ? options.Database! : options.SqliteConnectionString,
                options.UsesPostgres ? ProviderName.PostgreSQL15 : ProviderName.SQLiteMS,
                PersistenceMode.Both,
                autoInitialize: true)
            .WithDistributedPubSub("")
            .WithSingleton<FleetScheduler>("fleet-scheduler", Props.Create<FleetScheduler>(),
                new ClusterSingletonOptions { Role = ControlPlaneRole }, createProxyToo: true);

        return options.HasRole(ControlPlaneRole) ? builder.AddEntityRegions() : builder.AddEntityRegionProxies();
    }

    private static AkkaConfigurationBuilder AddEntityRegions(this AkkaConfigurationBuilder builder)
    {
        var extractor = new EntityMessageExtractor();
        var shard = new ShardOptions { Role = ControlPlaneRole, StateStoreMode = StateStoreMode.DData };
        return builder
            .WithShardRegion<OrganizationActor>(OrganizationActor.Kind,
                (system, _, _) => id => OrganizationActor.PropsFor(id, DistributedPubSub.Get(system).Mediator), extractor, shard)
            .WithShardRegion<SlugRegistryActor>(SlugRegistryActor.Kind, SlugRegistryActor.PropsFor, extractor, shard)
            .WithShardRegion<WorkspaceActor>(WorkspaceActor.Kind, WorkspaceActor.PropsFor, extractor, shard)
            .WithShardRegion<ProjectActor>(ProjectActor.Kind, ProjectActor.PropsFor, extractor, shard)
            .WithShardRegion<SandboxActor>(SandboxActor.Kind,
                (system, registry, _) => id => SandboxActor.PropsFor(id, registry.Get<FleetScheduler>(), DistributedPubSub.Get(system).Mediator),
                extractor, shard)
            .WithShardRegion<ShareTokenActor>(ShareTokenActor.Kind,
                (system, _, _) => id => ShareTokenActor.PropsFor(id, DistributedPubSub.Get(system).Mediator), extractor, shard)
            .WithShardRegion<SnapshotActor>(SnapshotActor.Kind,
                (_, registry, _) => id => SnapshotActor.PropsFor(id, registry.Get<FleetScheduler>()), extractor, shard)
            .WithShardRegion<DeploymentActor>(DeploymentActor.Kind,
                (system, _, resolver) => id => DeploymentActor.PropsFor(id, DistributedPubSub.Get(system).Mediator, resolver.GetService<IReleaseBuilder>()),
                extractor, shard);
    }

    private static AkkaConfigurationBuilder AddEntityRegionProxies(this AkkaConfigurationBuilder builder)
    {
        var extractor = new EntityMessageExtractor();
        return builder
            .WithShardRegionProxy<OrganizationActor>(OrganizationActor.Kind, ControlPlaneRole, extractor)
            .WithShardRegionProxy<SlugRegistryActor>(SlugRegistryActor.Kind, ControlPlaneRole, extractor)
            .WithShardRegionProxy<WorkspaceActor>(WorkspaceActor.Kind, ControlPlaneRole, extractor)
            .WithShardRegionProxy<ProjectActor>(ProjectActor.Kind, ControlPlaneRole, extractor)
            .WithShardRegionProxy<SandboxActor>(SandboxActor.Kind, ControlPlaneRole, extractor)
            .WithShardRegionProxy<ShareTokenActor>(ShareTokenActor.Kind, ControlPlaneRole, extractor)
            .WithShardRegionProxy<SnapshotActor>(SnapshotActor.Kind, ControlPlaneRole, extractor)
            .WithShardRegionProxy<DeploymentActor>(DeploymentActor.Kind, ControlPlaneRole, extractor);
    }
}
