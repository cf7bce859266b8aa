using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
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

    /// <summary>The kinds a full table walks through, in order.</summary>
    public static readonly IReadOnlyList<string> Kinds = [SandboxActor.Kind, ShareTokenActor.Kind, OrganizationActor.Kind];

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
                var sandboxes = await list.ScanAsync<SandboxState>(request.Kind, request.After, PageSize, ct);
                return new(request.Kind, sandboxes.Select(s => s.ToRoute()).ToList(), [], [], Next(sandboxes, s => s.Id));
            case ShareTokenActor.Kind:
                var tokens = await list.ScanAsync<ShareTokenState>(request.Kind, request.After, PageSize, ct);
                return new(request.Kind, [], tokens.Select(t => t.ToRoute()).ToList(), [], Next(tokens, t => t.Id));
            case OrganizationActor.Kind:
                var organizations = await list.ScanAsync<OrganizationState>(request.Kind, request.After, PageSize, ct);
                return new(request.Kind, [], [], organizations.Select(o => o.ToRoute()).ToList(), Next(organizations, o => o.Id));
            default:
                throw new ArgumentException($"No routes of kind '{request.Kind}'.");
        }
    }

    private static string? Next<T>(IReadOnlyList<T> page, Func<T, string> id) => page.Count == PageSize ? id(page[^1]) : null;

    public static Props PropsFor(ResourceList list) => Props.Create(() => new RouteTableSource(list));
}
