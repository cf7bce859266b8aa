using Akka.Actor;
using Miosa.Actors.Common;
using Miosa.Actors.Routing;

namespace Miosa.Actors.Organizations;

public sealed class OrganizationActor : EventSourcedEntity<OrganizationState>
{
    public const string Kind = "organization";

    private readonly IActorRef _routes;

    public OrganizationActor(string organizationId, IActorRef routes)
        : base(Kind, organizationId, OrganizationState.Empty(organizationId))
    {
        _routes = routes;
        Command<Authenticate>(c =>
        {
            if (!State.Exists || State.Authenticate(c.KeyHash) is not { } key)
            {
                Sender.Tell(Rejection.NotFound("unauthorized", "Unknown API key."));
                return;
            }
            // The request goes on at once; last use is written after (and at most once a minute).
            Sender.Tell(new Authenticated(State.Id, key.Id, key.EffectiveScopes));
            Commit(State.RecordUse(key.Id, DateTimeOffset.UtcNow), reply: null);
        });
        Command<ITenantCommand>(c => Commit(State.Process(c), s => s.ToTenantView(), _ => _routes.PublishRoute(State.ToRoute())));
        Command<IOrganizationCommand>(c => Commit(State.Process(c), s => s.ToView()));
    }

    protected override OrganizationState Apply(OrganizationState state, IMiosaEvent @event) => state.Apply(@event);

    /// <param name="routes">Where routing changes go: the DistributedPubSub mediator (a probe in tests).</param>
    public static Props PropsFor(string organizationId, IActorRef routes) => Props.Create(() => new OrganizationActor(organizationId, routes));
}
