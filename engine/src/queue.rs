//! The inference worker's queue: bounded, and "latest wins" for
//! interactive input without ever losing a request.
//!
//! A job is either `Ordered` (model loads, tool batches: never dropped) or
//! `Latest(lane)`: a newer job in the same lane supersedes the queued ones
//! (a visitor mashing a button wants the newest picture, not twenty old
//! ones). Superseded and rejected jobs are handed back to the caller, who
//! must answer them: every request gets exactly one answer. Interactive
//! jobs are taken first. Pure data
//! structure: no threads, no clocks.

use std::collections::VecDeque;

/// Independent streams of supersedable work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Commands from visitors and technicians.
    Interactive,
    /// Morph and live frames: a late frame is worthless.
    Frames,
}

/// How a job may be treated while it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Never superseded.
    Ordered,
    /// Superseded by a newer job in the same lane.
    Latest(Lane),
}

/// What became of a push.
#[derive(Debug)]
pub struct Pushed<T> {
    /// Older jobs the new one displaced; answer each with "superseded".
    pub superseded: Vec<T>,
    /// The new job itself when the queue was full; answer it with "busy".
    pub rejected: Option<T>,
}

#[derive(Debug)]
pub struct JobQueue<T> {
    items: VecDeque<(Urgency, T)>,
    capacity: usize,
}

impl<T> JobQueue<T> {
    pub fn new(capacity: usize) -> JobQueue<T> {
        assert!(capacity > 0, "a queue holds at least one job");
        JobQueue {
            items: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push(&mut self, urgency: Urgency, job: T) -> Pushed<T> {
        let mut superseded = Vec::new();
        if let Urgency::Latest(_) = urgency {
            let mut kept = VecDeque::with_capacity(self.items.len());
            for (u, j) in self.items.drain(..) {
                if u == urgency {
                    superseded.push(j)
                } else {
                    kept.push_back((u, j))
                }
            }
            self.items = kept;
        }
        if self.items.len() >= self.capacity {
            return Pushed {
                superseded,
                rejected: Some(job),
            };
        }
        self.items.push_back((urgency, job));
        Pushed {
            superseded,
            rejected: None,
        }
    }

    /// Puts `job` first among the ordered ones, whatever the capacity: for
    /// short bookkeeping jobs that must not be refused (a loaded model
    /// handed to the worker).
    pub fn push_first(&mut self, job: T) {
        self.items.push_front((Urgency::Ordered, job));
    }

    /// The next job: a visitor's command first (it should not wait behind
    /// frames or a model load), then the others in arrival order.
    pub fn pop(&mut self) -> Option<T> {
        let at = self
            .items
            .iter()
            .position(|(u, _)| *u == Urgency::Latest(Lane::Interactive))
            .unwrap_or(0);
        self.items.remove(at).map(|(_, j)| j)
    }

    /// Empties the queue (on shutdown), oldest first.
    pub fn drain(&mut self) -> Vec<T> {
        self.items.drain(..).map(|(_, j)| j).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Lane::*;
    use Urgency::*;

    #[test]
    fn latest_supersedes_only_its_lane() {
        let mut q = JobQueue::new(8);
        assert!(q.push(Ordered, "load").superseded.is_empty());
        assert!(q.push(Latest(Interactive), "gen1").superseded.is_empty());
        assert!(q.push(Latest(Frames), "frame1").superseded.is_empty());
        let p = q.push(Latest(Interactive), "gen2");
        assert_eq!(p.superseded, vec!["gen1"]);
        assert!(p.rejected.is_none());
        assert_eq!(q.drain(), vec!["load", "frame1", "gen2"]);
    }

    #[test]
    fn interactive_jobs_jump_ahead() {
        let mut q = JobQueue::new(8);
        q.push(Ordered, "load");
        q.push(Latest(Frames), "frames");
        q.push(Latest(Interactive), "gen");
        assert_eq!(q.pop(), Some("gen"));
        assert_eq!(q.pop(), Some("load"));
        assert_eq!(q.pop(), Some("frames"));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn a_job_pushed_first_comes_next_even_when_full() {
        let mut q = JobQueue::new(2);
        q.push(Ordered, "load");
        q.push(Latest(Frames), "frames");
        q.push_first("install");
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop(), Some("install"));
        assert_eq!(q.pop(), Some("load"));
    }

    #[test]
    fn ordered_jobs_are_never_dropped_and_full_queue_rejects() {
        let mut q = JobQueue::new(2);
        q.push(Ordered, 1);
        q.push(Ordered, 2);
        let p = q.push(Ordered, 3);
        assert_eq!(p.rejected, Some(3));
        let p = q.push(Latest(Interactive), 4);
        assert_eq!(p.rejected, Some(4));
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn every_job_is_accounted_for() {
        // 1000 pushes of mixed kinds: each job ends up popped, superseded or rejected exactly once.
        let mut q = JobQueue::new(4);
        let mut seen = vec![0u8; 1000];
        for i in 0..1000usize {
            let urgency = match i % 5 {
                0 => Ordered,
                1 | 2 => Latest(Interactive),
                _ => Latest(Frames),
            };
            let p = q.push(urgency, i);
            p.superseded.into_iter().for_each(|j| seen[j] += 1);
            p.rejected.into_iter().for_each(|j| seen[j] += 1);
            if i % 3 == 0 {
                q.pop().into_iter().for_each(|j| seen[j] += 1);
            }
        }
        q.drain().into_iter().for_each(|j| seen[j] += 1);
        assert!(seen.iter().all(|&n| n == 1));
    }
}
