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
            Sender.Tell(State.Exists && State.Authenticate(c.KeyHash) is { } keyId
                ? new Authenticated(State.Id, keyId)
                : Rejection.NotFound("unauthorized", "Unknown API key."));
        });
        Command<IOrganizationCommand>(c => Commit(State.Process(c), s => s.ToView()));
    }

    protected override OrganizationState Apply(OrganizationState state, IMiosaEvent @event) => state.Apply(@event);

    public static Props PropsFor(string organizationId) => Props.Create(() => new OrganizationActor(organizationId));
}
