using Akka.Actor;
using Miosa.Actors.Common;
using Miosa.Actors.Routing;

namespace Miosa.Actors.ShareTokens;

public sealed class ShareTokenActor : EventSourcedEntity<ShareTokenState>
{
    public const string Kind = "share-token";

    public ShareTokenActor(string tokenId, IActorRef routes) : base(Kind, tokenId, ShareTokenState.Empty(tokenId))
    {
        // A revocation answers once persisted, and reaches every edge through the published route.
        Command<IShareTokenCommand>(c => Commit(State.Process(c), s => s.ToView(), _ => routes.PublishRoute(State.ToRoute())));
    }

    protected override ShareTokenState Apply(ShareTokenState state, IMiosaEvent @event) => state.Apply(@event);

    public static Props PropsFor(string tokenId, IActorRef routes) => Props.Create(() => new ShareTokenActor(tokenId, routes));
}
