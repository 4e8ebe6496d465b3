"""LeetCode methods that take and return ListNode / TreeNode values: built from the examples' lists, compared as
lists, in the real sandbox."""

from __future__ import annotations

from daj.probes import CandidateRun
from daj.probes.shapes import CallerCase, ShapeRequest, plan_probes
from sandbox import execute, probe_spec

REVERSE = ("Reverse the list.\n\nExample 1:\n\nInput: head = [1,2,3]\nOutput: [3,2,1]\n\nExample 2:\n\n"
           "Input: head = []\nOutput: []\n\nclass Solution:\n"
           "    def reverseList(self, head: Optional[ListNode]) -> Optional[ListNode]:\n        ")
REVERSED = ("class Solution:\n    def reverseList(self, head: Optional[ListNode]) -> Optional[ListNode]:\n"
            "        previous = None\n        while head:\n            head.next, previous, head = previous, head, "
            "head.next\n        return previous\n")
UNCHANGED = "class Solution:\n    def reverseList(self, head):\n        return head\n"
DEPTH = ("Return the depth of the tree.\n\nInput: root = [3,9,20,null,null,15,7]\nOutput: 3\n\nclass Solution:\n"
         "    def maxDepth(self, root: Optional[TreeNode]) -> int:\n        ")
DEPTH_RIGHT = ("# the program's own node class, as LeetCode programs sometimes keep it\nclass TreeNode:\n"
               "    def __init__(self, x):\n        self.val, self.left, self.right = x, None, None\n\n"
               "class Solution:\n    def maxDepth(self, root):\n        if root is None:\n            return 0\n"
               "        assert isinstance(root, TreeNode)\n"
               "        return 1 + max(self.maxDepth(root.left), self.maxDepth(root.right))\n")
MERGE = ("Merge the sorted lists.\n\nInput: lists = [[1,4,5],[1,3,4],[2,6]]\nOutput: [1,1,2,3,4,4,5,6]\n\n"
         "class Solution:\n    def mergeKLists(self, lists: List[Optional[ListNode]]) -> Optional[ListNode]:\n        ")
MERGED = ("class Solution:\n    def mergeKLists(self, lists):\n        values = []\n        for node in lists:\n"
          "            while node:\n                values.append(node.val)\n                node = node.next\n"
          "        head = None\n        for value in sorted(values, reverse=True):\n"
          "            head = ListNode(value, head)\n        return head\n")


def marks(problem: str, program: str, tests: tuple[CallerCase, ...] = ()) -> tuple[str, list[str]]:
    probe_set = plan_probes(ShapeRequest(problem, (program,), tests=tests)).probe_set
    assert probe_set is not None
    run = CandidateRun.from_result(execute(program, probe_spec(probe_set, 1.0, 200)), len(probe_set.probes))
    return run.marks, list(run.outputs)


def test_linked_list_arguments_and_results_are_lists() -> None:
    probe_set = plan_probes(ShapeRequest(REVERSE, (REVERSED,))).probe_set
    assert probe_set is not None and probe_set.probes[0].call == "Solution().reverseList(build_list([1, 2, 3]))"
    assert probe_set.probes[0].expected == "[3, 2, 1]" and probe_set.node_results
    found, outputs = marks(REVERSE, REVERSED)
    assert found.startswith("PP") and outputs[:2] == ["[3, 2, 1]", "[]"]
    assert marks(REVERSE, UNCHANGED)[0][:2] == "FP"


def test_tree_arguments_are_built_level_by_level_with_the_programs_own_node_class() -> None:
    found, outputs = marks(DEPTH, DEPTH_RIGHT)
    assert found[0] == "P" and outputs[0] == "3"


def test_a_list_of_linked_lists_and_caller_tests_as_data() -> None:
    tests = (CallerCase("tests[0]", args=([[5], [], [0, 9]],), expected=[0, 5, 9], has_expected=True),)
    found, outputs = marks(MERGE, MERGED, tests)
    assert found[:2] == "PP" and outputs[:2] == ["[1, 1, 2, 3, 4, 4, 5, 6]", "[0, 5, 9]"]
