using Akka.Actor;
using Miosa.Actors.Common;

namespace Miosa.Actors.Organizations;

public sealed class OrganizationActor : EventSourcedEntity<OrganizationState>
{
    public const string Kind = "organization";

    public OrganizationActor(string organizationId)
        : base(Kind, organizationId, OrganizationState.Empty(organizationId))
    {
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
        Command<IOrganizationCommand>(c => Commit(State.Process(c), s => s.ToView()));
    }

    protected override OrganizationState Apply(OrganizationState state, IMiosaEvent @event) => state.Apply(@event);

    public static Props PropsFor(string organizationId) => Props.Create(() => new OrganizationActor(organizationId));
}
