using System.Text.Json;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Miosa.Actors.Deployments;
using Miosa.Actors.Organizations;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.ShareTokens;

namespace Miosa.Actors.Routing;

/// <summary>
/// Serves the full route table to edges, a page at a time, from the list read model (one on every
/// API node, reached through the mediator at <see cref="Path"/>). Live changes travel separately
/// on <see cref="RouteTopic"/>; versions make the two merge in any order.
/// </summary>
public sealed class RouteTableSource : ReceiveActor
{
    public const string Name = "route-table";
    public const string Path = "/user/" + Name;
    public const int PageSize = 500;

    /// <summary>Well under Akka.Remote's default 128,000-byte frame.</summary>
    public const int MaxPageBytes = 64 * 1024;

    /// <summary>The kinds a full table walks through, in order.</summary>
    public static readonly IReadOnlyList<string> Kinds = [SandboxActor.Kind, ShareTokenActor.Kind, OrganizationActor.Kind, DeploymentActor.Kind];

    public RouteTableSource(ResourceList list)
    {
        ReceiveAsync<GetRouteTable>(async request =>
        {
            var sender = Sender;
            try
            {
                sender.Tell(await PageAsync(list, request));
            }
            catch (Exception e)
            {
                sender.Tell(new Status.Failure(e));
            }
        });
    }

    protected override void PreStart() => DistributedPubSub.Get(Context.System).Mediator.Tell(new Put(Self));

    private static async Task<RouteTablePage> PageAsync(ResourceList list, GetRouteTable request)
    {
        var ct = CancellationToken.None;
        switch (request.Kind)
        {
            case SandboxActor.Kind:
                var (sandboxes, afterSandbox) = Fit(await list.ScanAsync<SandboxState>(request.Kind, request.After, PageSize, ct), s => s.ToRoute(), s => s.Id);
                return new(request.Kind, sandboxes, [], [], afterSandbox);
            case ShareTokenActor.Kind:
                var (tokens, afterToken) = Fit(await list.ScanAsync<ShareTokenState>(request.Kind, request.After, PageSize, ct), t => t.ToRoute(), t => t.Id);
                return new(request.Kind, [], tokens, [], afterToken);
            case OrganizationActor.Kind:
                var (tenants, afterTenant) = Fit(await list.ScanAsync<OrganizationState>(request.Kind, request.After, PageSize, ct), o => o.ToRoute(), o => o.Id);
                return new(request.Kind, [], [], tenants, afterTenant);
            case DeploymentActor.Kind:
                var (deployments, afterDeployment) = Fit(await list.ScanAsync<DeploymentState>(request.Kind, request.After, PageSize, ct), d => d.ToRoute(), d => d.Id);
                return new(request.Kind, [], [], [], afterDeployment) { Deployments = deployments };
            default:
                throw new ArgumentException($"No routes of kind '{request.Kind}'.");
        }
    }

    /// <summary>
    /// As many routes as fit in one remoting message (at least one), and where the next page starts.
    /// Akka.Remote drops a message over its frame size, so pages are cut by bytes, not only by count.
    /// </summary>
    private static (IReadOnlyList<TRoute> Routes, string? Next) Fit<TState, TRoute>(IReadOnlyList<TState> rows, Func<TState, TRoute> route, Func<TState, string> id)
    {
        var routes = new List<TRoute>();
        var bytes = 0;
        foreach (var row in rows)
        {
            var r = route(row);
            bytes += JsonSerializer.SerializeToUtf8Bytes(r).Length;
            if (routes.Count > 0 && bytes > MaxPageBytes) break;
            routes.Add(r);
        }
        var more = routes.Count < rows.Count || rows.Count == PageSize;
        return (routes, more ? id(rows[routes.Count - 1]) : null);
    }

    public static Props PropsFor(ResourceList list) => Props.Create(() => new RouteTableSource(list));
}
