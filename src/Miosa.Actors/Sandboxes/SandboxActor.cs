using Akka.Actor;
using Akka.Event;
using Miosa.Actors.Common;
using Miosa.Actors.Fleet;
using Miosa.Actors.Previews;
using Miosa.Actors.Routing;

namespace Miosa.Actors.Sandboxes;

/// <summary>
/// One sandbox: persists what was asked, then drives the fleet (place, start, destroy) and records
/// the outcome. A create is answered only once the sandbox is ready for exec.
/// </summary>
public sealed class SandboxActor : EventSourcedEntity<SandboxState>
{
    public const string Kind = "sandbox";
    private static readonly TimeSpan PlacementTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _fleet;
    private readonly IActorRef _routes;
    private readonly List<IActorRef> _awaitingStart = [];

    // A suspend or resume waits for its host; others of their kind wait in the stash meanwhile.
    private bool _transitioning;

    public SandboxActor(string sandboxId, IActorRef fleet, IActorRef routes) : base(Kind, sandboxId, SandboxState.Empty(sandboxId))
    {
        _fleet = fleet;
        _routes = routes;

        Command<CreateSandbox>(c =>
        {
            if (State.Exists && State.Status == SandboxStatus.Creating && State.VisibleTo(c.OrganizationId))
            {
                _awaitingStart.Add(Sender);
                return;
            }
            Commit(State.Process(c), State.Exists ? s => s.ToView() : null, e =>
            {
                if (e is not SandboxCreationRequested) return;
                _awaitingStart.Add(Sender);
                Place();
            });
        });
        Command<GetSandbox>(c => Commit(State.Process(c), s => s.ToView()));
        Command<OpenPreview>(c => Commit(State.Process(c), s => s.Previews.First(p => p.Port == c.Port), PublishRoute));
        Command<ClosePreview>(c => Commit(State.Process(c), s => s.ToPreviewList(), PublishRoute));
        Command<ListPreviews>(c => Commit(State.Process(c), s => s.ToPreviewList()));
        Command<RecordSandboxUsage>(c => Commit(State.Process(c), null));
        Command<DestroySandbox>(c => Commit(State.Process(c), s => s.ToView(), e =>
        {
            PublishRoute(e);
            if (e is not SandboxDestroyed) return;
            AnswerWaiting(Rejection.Conflict("sandbox_destroyed", $"Sandbox {EntityId} was destroyed while starting."));
            TellHost(new DestroySandboxOnHost(EntityId));
        }));
        // A restarted host asks: start it again, delete it, or (still being created) leave it be.
        Command<ReconcileSandbox>(c => Sender.Tell(
            State.ShouldRunOn(c.Host) ? Start()
            : State.Exists && State.Status == SandboxStatus.Creating ? State.ToView()
            // Suspended there: its workspace stays and it starts again on resume.
            : State.KeepsWorkspaceOn(c.Host) ? State.ToView()
            : new DestroySandboxOnHost(EntityId)));
        // ... and once it runs again, tells where (its ingress may have a new address).
        Command<RecordSandboxStarted>(c => Commit(State.Process(c), s => s.ToView(), PublishRoute));

        // The placement flow, its replies piped back into the mailbox.
        Command<SandboxPlacement>(p => p.Agent.Ask<object>(Start(), StartTimeout).PipeTo(Self));
        Command<SandboxStartedOnHost>(s =>
        {
            if (State.Status == SandboxStatus.Destroyed)
            {
                Sender.Tell(new DestroySandboxOnHost(EntityId));
                return;
            }
            Commit(State.Process(new RecordSandboxStarted(EntityId, s.Host, s.IngressUrl, DateTimeOffset.UtcNow)), null, e =>
            {
                PublishRoute(e);
                AnswerWaiting(State.ToView());
            });
            if (State.Status == SandboxStatus.Running) AnswerWaiting(State.ToView());
        });
        Command<SandboxStartFailedOnHost>(f => Fail($"Host {f.Host} could not start the sandbox: {f.Reason}"));
        Command<Rejection>(r => Fail(r.Detail, r));
        Command<Status.Failure>(f => Fail($"Starting the sandbox timed out ({f.Cause.GetType().Name})."));
        Command<SandboxDestroyedOnHost>(_ => { });

        Command<SuspendSandbox>(c =>
        {
            if (State.Process(c).Rejection is { } rejection) Sender.Tell(rejection);
            else if (_transitioning) Stash.Stash();
            else if (State.Status == SandboxStatus.Suspended && (State.Hibernated || !c.Hibernate)) Sender.Tell(State.ToView());
            else Transition(c.Hibernate ? HostAction.Hibernate : HostAction.Suspend, Sender);
        });
        Command<ResumeSandbox>(c =>
        {
            if (State.Process(c).Rejection is { } rejection) Sender.Tell(rejection);
            else if (_transitioning) Stash.Stash();
            else if (State.Status == SandboxStatus.Running) Sender.Tell(State.ToView());
            else Transition(State.Hibernated ? HostAction.StartAgain : HostAction.Resume, Sender);
        });
        Command<HostActionOutcome>(o =>
        {
            _transitioning = false;
            var done = o.Answer is SandboxHostActionDone { Done: true };
            switch (o.Action)
            {
                case HostAction.Suspend when done:
                case HostAction.Hibernate:
                    // A hibernation whose processes were already gone (a restarted host) is hibernated all the same.
                    if (o.Action == HostAction.Hibernate && o.Answer is not SandboxHostActionDone) goto default;
                    Record(new RecordSandboxSuspended(EntityId, o.Action == HostAction.Hibernate, DateTimeOffset.UtcNow), o.ReplyTo);
                    break;
                case HostAction.Resume when done:
                    Record(new RecordSandboxResumed(EntityId, DateTimeOffset.UtcNow), o.ReplyTo);
                    break;
                case HostAction.Resume when o.Answer is SandboxHostActionDone:
                    // Frozen processes that did not survive a host restart: start it afresh.
                    Transition(HostAction.StartAgain, o.ReplyTo);
                    return;
                case HostAction.StartAgain when o.Answer is SandboxStartedOnHost started:
                    Record(new RecordSandboxResumed(EntityId, DateTimeOffset.UtcNow), o.ReplyTo);
                    if (started.IngressUrl != State.IngressUrl || started.Host != State.Host)
                        Record(new RecordSandboxStarted(EntityId, started.Host, started.IngressUrl, DateTimeOffset.UtcNow), ActorRefs.Nobody);
                    break;
                default:
                    _log.Warning("Sandbox {0}: {1} on its host failed ({2})", EntityId, o.Action, o.Answer?.GetType().Name ?? "no answer");
                    o.ReplyTo.Tell(new Rejection("sandbox_unavailable", $"The host of sandbox {EntityId} did not {o.Action.ToString().ToLowerInvariant()} it; retry.", 503));
                    break;
            }
            Stash.UnstashAll();
        });
    }

    protected override SandboxState Apply(SandboxState state, IMiosaEvent @event) => state.Apply(@event);

    /// <summary>A creation cut short by a crash goes on after recovery.</summary>
    protected override void OnRecovered()
    {
        if (State.Exists && State.Status == SandboxStatus.Creating) Place();
    }

    private void Place() =>
        _fleet.Ask<object>(new PlaceSandbox(EntityId, State.Spec!.Resources), PlacementTimeout).PipeTo(Self);

    private void Fail(string reason, Rejection? rejection = null)
    {
        if (State.Status != SandboxStatus.Creating) return;
        _log.Warning("Sandbox {0} failed to start: {1}", EntityId, reason);
        Commit(State.Process(new RecordSandboxFailed(EntityId, reason, DateTimeOffset.UtcNow)), null, e =>
        {
            PublishRoute(e);
            AnswerWaiting(rejection ?? new Rejection("sandbox_start_failed", reason, 503));
        });
    }

    private StartSandboxOnHost Start() => new(State.Spec!) { IdleTimeoutSeconds = State.TimeoutSeconds };

    /// <summary>Asks the sandbox's host to freeze, thaw, stop or start it; the answer comes back as a <see cref="HostActionOutcome"/>.</summary>
    private void Transition(HostAction action, IActorRef replyTo)
    {
        _transitioning = true;
        object message = action switch
        {
            HostAction.Suspend => new SuspendSandboxOnHost(EntityId),
            HostAction.Hibernate => new StopSandboxOnHost(EntityId),
            HostAction.Resume => new ResumeSandboxOnHost(EntityId),
            _ => Start(),
        };
        var (fleet, host) = (_fleet, State.Host);
        AskHostAsync(fleet, host, message).PipeTo(Self,
            success: answer => new HostActionOutcome(action, answer, replyTo),
            failure: _ => new HostActionOutcome(action, null, replyTo));
    }

    private static async Task<object?> AskHostAsync(IActorRef fleet, string? host, object message)
    {
        if (host is null) return null;
        var found = await fleet.Ask<HostFound>(new FindHost(host), PlacementTimeout);
        return found.Agent is null ? null : await found.Agent.Ask<object>(message, StartTimeout);
    }

    /// <summary>Decides and persists an outcome, then answers <paramref name="replyTo"/> with the sandbox as it now is.</summary>
    private void Record(ISandboxCommand command, IActorRef replyTo)
    {
        var decision = State.Process(command);
        if (decision.Rejection is { } rejection)
        {
            replyTo.Tell(rejection);
            return;
        }
        if (decision.Events.Count == 0)
        {
            replyTo.Tell(State.ToView());
            return;
        }
        var last = decision.Events[^1];
        Commit(decision, null, e =>
        {
            PublishRoute(e);
            if (ReferenceEquals(e, last)) replyTo.Tell(State.ToView());
        });
    }

    private void PublishRoute(IMiosaEvent e)
    {
        if (SandboxState.ChangesRoute(e)) _routes.PublishRoute(State.ToRoute());
    }

    private void AnswerWaiting(object answer)
    {
        foreach (var waiting in _awaitingStart) waiting.Tell(answer);
        _awaitingStart.Clear();
    }

    private void TellHost(object message)
    {
        if (State.Host is not { } host) return;
        var self = Self;
        _fleet.Ask<HostFound>(new FindHost(host), PlacementTimeout).ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully && t.Result.Agent is { } agent) agent.Tell(message, self);
        }, TaskScheduler.Default);
    }

    /// <param name="routes">Where routing changes go: the DistributedPubSub mediator (a probe in tests).</param>
    private enum HostAction { Suspend, Hibernate, Resume, StartAgain }

    private sealed record HostActionOutcome(HostAction Action, object? Answer, IActorRef ReplyTo);

    public static Props PropsFor(string sandboxId, IActorRef fleet, IActorRef routes) =>
        Props.Create(() => new SandboxActor(sandboxId, fleet, routes));
}
