using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Journal;

namespace Miosa.Actors.Common;

/// <summary>
/// The thin shell every entity shares: recover by applying events, decide with the pure state,
/// persist before replying (an acknowledged command is never lost), snapshot every N events.
/// Events are tagged with the entity kind so read models can follow them.
/// </summary>
public abstract class EventSourcedEntity<TState> : ReceivePersistentActor where TState : class
{
    public const string AuditTag = "audit";
    public const string UsageTag = "usage";
    private const int SnapshotEvery = 100;
    private readonly string _tag;

    protected EventSourcedEntity(string kind, string entityId, TState initial)
    {
        _tag = kind;
        EntityId = entityId;
        PersistenceId = $"{kind}-{entityId}";
        State = initial;
        Recover<SnapshotOffer>(offer => State = (TState)offer.Snapshot);
        Recover<IMiosaEvent>(e => State = Apply(State, e));
        // Journals that keep the tag wrapper (the in-memory one) hand it back on recovery.
        Recover<Tagged>(t => State = Apply(State, (IMiosaEvent)t.Payload));
        Recover<RecoveryCompleted>(_ => OnRecovered());
    }

    public override string PersistenceId { get; }

    protected string EntityId { get; }

    protected TState State { get; private set; }

    protected abstract TState Apply(TState state, IMiosaEvent @event);

    protected virtual void OnRecovered() { }

    /// <summary>Persists the decision's events, then replies with <paramref name="reply"/> (or the rejection).</summary>
    protected void Commit(Decision decision, Func<TState, object>? reply, Action<IMiosaEvent>? afterEach = null)
    {
        var sender = Sender;
        if (decision.Rejection is { } rejection)
        {
            sender.Tell(rejection);
            return;
        }
        if (decision.Events.Count == 0)
        {
            if (reply is not null) sender.Tell(reply(State));
            return;
        }
        var remaining = decision.Events.Count;
        PersistAll(decision.Events.Select(e => new Tagged(e, TagsOf(e))), tagged =>
        {
            var @event = (IMiosaEvent)tagged.Payload;
            State = Apply(State, @event);
            afterEach?.Invoke(@event);
            if (--remaining == 0 && reply is not null) sender.Tell(reply(State));
            if (LastSequenceNr % SnapshotEvery == 0 && State is IMiosaMessage) SaveSnapshot(State);
        });
    }

    // Usage events are frequent and change nothing a list shows: only the usage projection follows
    // them, so list projections and their read-your-writes wait never step over them.
    private string[] TagsOf(IMiosaEvent e) => e switch
    {
        IUsageEvent => [UsageTag],
        IAuditedEvent => [_tag, AuditTag],
        _ => [_tag],
    };
}
