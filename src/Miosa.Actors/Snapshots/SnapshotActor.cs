using Akka.Actor;
using Akka.Event;
using Miosa.Actors.Common;
using Miosa.Actors.Fleet;

namespace Miosa.Actors.Snapshots;

/// <summary>
/// One snapshot: persists what was asked, has the sandbox's host store the content, records the
/// outcome. A create is answered once the content is stored. A delete answers at once and then
/// has the host drop what only this snapshot held.
/// </summary>
public sealed class SnapshotActor : EventSourcedEntity<SnapshotState>
{
    public const string Kind = "snapshot";
    private static readonly TimeSpan FindTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Storing 100 MB takes well under a second; a huge workspace is hashed at about 1 GB/s.</summary>
    private static readonly TimeSpan StoreTimeout = TimeSpan.FromMinutes(10);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _fleet;
    private readonly List<IActorRef> _awaitingStore = [];

    public SnapshotActor(string snapshotId, IActorRef fleet) : base(Kind, snapshotId, SnapshotState.Empty(snapshotId))
    {
        _fleet = fleet;
        Command<CreateSnapshot>(c =>
        {
            if (State.Exists && State.Status == SnapshotStatus.Creating && State.VisibleTo(c.OrganizationId))
            {
                _awaitingStore.Add(Sender);
                return;
            }
            Commit(State.Process(c), State.Exists ? s => s.ToView() : null, e =>
            {
                if (e is not SnapshotRequested) return;
                _awaitingStore.Add(Sender);
                Store();
            });
        });
        Command<GetSnapshot>(c => Commit(State.Process(c), s => s.ToView()));
        Command<DeleteSnapshot>(c => Commit(State.Process(c), s => s.ToView(), e =>
        {
            if (e is SnapshotDeleted) TellHost(new DeleteSnapshotOnHost(EntityId));
        }));

        // The host's answer, piped back into the mailbox.
        Command<SandboxSnapshotStoredOnHost>(s => Record(new RecordSnapshotStored(EntityId, s.SizeBytes, s.TotalBytes, s.Files, DateTimeOffset.UtcNow)));
        Command<SandboxSnapshotFailedOnHost>(f => Record(new RecordSnapshotFailed(EntityId, f.Reason, DateTimeOffset.UtcNow)));
        Command<Status.Failure>(f => Record(new RecordSnapshotFailed(EntityId, $"The host did not store the snapshot ({f.Cause.GetType().Name}).", DateTimeOffset.UtcNow)));
        Command<SnapshotDeletedOnHost>(_ => { });
    }

    protected override SnapshotState Apply(SnapshotState state, IMiosaEvent @event) => state.Apply(@event);

    /// <summary>A store cut short by a crash goes on after recovery (the host's store is idempotent).</summary>
    protected override void OnRecovered()
    {
        if (State.Exists && State.Status == SnapshotStatus.Creating) Store();
    }

    private void Store()
    {
        var (fleet, host, message) = (_fleet, State.Host, new SnapshotSandboxOnHost(State.SandboxId, EntityId));
        AskHostAsync(fleet, host, message).PipeTo(Self);
    }

    private static async Task<object> AskHostAsync(IActorRef fleet, string host, SnapshotSandboxOnHost message)
    {
        var found = await fleet.Ask<HostFound>(new FindHost(host), FindTimeout);
        return found.Agent is null
            ? new SandboxSnapshotFailedOnHost(message.SnapshotId, host, $"Host {host} is not in the fleet.")
            : await found.Agent.Ask<object>(message, StoreTimeout);
    }

    private void Record(ISnapshotCommand outcome)
    {
        var decision = State.Process(outcome);
        Commit(decision, null, e =>
        {
            if (e is SnapshotFailed failed)
            {
                _log.Warning("Snapshot {0} of sandbox {1} failed: {2}", EntityId, State.SandboxId, failed.Reason);
                Answer(new Rejection("snapshot_failed", $"Snapshot {EntityId} could not be stored: {failed.Reason}", 503));
            }
            else if (e is SnapshotStored)
            {
                Answer(State.ToView());
            }
        });
    }

    private void Answer(object answer)
    {
        foreach (var waiting in _awaitingStore) waiting.Tell(answer);
        _awaitingStore.Clear();
    }

    private void TellHost(object message)
    {
        var self = Self;
        _fleet.Ask<HostFound>(new FindHost(State.Host), FindTimeout).ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully && t.Result.Agent is { } agent) agent.Tell(message, self);
        }, TaskScheduler.Default);
    }

    public static Props PropsFor(string snapshotId, IActorRef fleet) => Props.Create(() => new SnapshotActor(snapshotId, fleet));
}
